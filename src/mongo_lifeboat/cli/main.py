"""Entry point: global options, command registration, and the one place errors are printed."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import __version__, interrupts
from ..errors import Interrupted, LifeboatError, SourceUnreachable, UsageError, readable
from ..memory import keep_big_buffers_mapped
from ..secrets import RedactingFilter, redact
from .commands import COMMANDS, LazyGroup
from .remedies import command_line

if TYPE_CHECKING:
    from ..events import EventPipe

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
_state = {"verbose": False}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Plan file (TOML). Default: ./lifeboat.toml if present.",
)
@click.option("-v", "--verbose", is_flag=True, help="More detail; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.option(
    "--events-fd",
    type=int,
    default=None,
    metavar="FD",
    help="Also write every event (outcomes, gaps) as a JSON line to this open file descriptor, "
    "for a supervisor; such a run leaves notifying to it.",
)
@click.version_option(__version__, prog_name="lifeboat")
@click.pass_context
def cli(
    ctx: click.Context, config_path: Path | None, verbose: bool, quiet: bool, events_fd: int | None
) -> None:
    """Lifeboat: MongoDB backups you have proven you can restore."""
    _state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    # The AWS SDK's debug log prints request and response bodies and headers: KMS data keys,
    # signatures. It stays at INFO even with -v (our own messages say what each call was).
    for sdk in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(sdk).setLevel(logging.INFO if verbose else logging.WARNING)
    # Apprise's debug log prints each notification URL whole (tokens in its path): never below INFO.
    logging.getLogger("apprise").setLevel(logging.INFO if verbose else logging.ERROR)
    if not verbose:
        logging.getLogger("pymongo").setLevel(logging.WARNING)
        # The driver's background thread logs its own failures with a traceback (a cursor it
        # may not kill on a stop, as SecantusDB refuses a least-privilege user): nothing a run
        # depends on, since every operation of ours raises its own error. Shown with -v.
        logging.getLogger("pymongo.client").setLevel(logging.CRITICAL)
    # Imported here, not at the top: `lifeboat --help` and `--version` never load them.
    from ..config import load_plan, plan_path
    from ..output import Output
    from ..session import Session

    events = _event_pipe(events_fd) if events_fd is not None else None
    ctx.obj = Session(
        Output(quiet=quiet, verbose=verbose), load_plan(config_path), plan_path(config_path), events
    )


def _event_pipe(fd: int) -> EventPipe:
    from ..events import EventPipe

    try:
        return EventPipe(fd)
    except OSError as e:
        raise UsageError(
            f"--events-fd {fd}: not an open file descriptor ({e.strerror})",
            "a supervisor passes the write end of a pipe it holds open; see: lifeboat --help",
        ) from None


_MAX_MESSAGE = 600  # driver errors can embed whole documents: never dump them on a terminal


def _fail(message: str, hint: str, code: int) -> None:
    message = redact(message)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + " … (truncated; -v shows more)"
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {redact(hint)}", err=True)
    sys.exit(code)


# What an interrupted command leaves behind, and what to run next.
_AFTER_INTERRUPT = {
    "backup": "nothing was committed (a backup without its manifest is never used): run lifeboat backup "
    "again; lifeboat cleanup removes the partial objects",
    "restore": "the target holds part of the restore: run the same restore again with --drop",
    "drill": "a scratch staging server was stopped and removed (a --staging one holds part of the "
    "restore): run the drill again",
    "undo": "run the same undo again: what was written is journaled and not written twice",
    "export": "the output is incomplete: remove it and export again",
    "import-mongodump": "nothing was committed (no manifest): import again; lifeboat cleanup removes the "
    "partial objects",
    "copy": "copy is incremental and verifies each object: run it again to finish",
    "prune": "what was deleted is gone, the rest is kept: run prune again to finish",
    "compact": "every entry is held once or twice, never lost (readers take one copy): run compact again "
    "to finish",
    "snapshot": "writes were unlocked and nothing was recorded: take the snapshot again",
    "verify": "nothing was changed: run verify again",
}


def _command() -> str:
    return next((a for a in sys.argv[1:] if a in COMMANDS), "")


def main(args: list[str] | None = None) -> None:
    """The ``lifeboat`` command: runs ``args`` (default: the command line), then exits with the
    documented code (``error:``/``hint:`` on stderr for a failure)."""
    keep_big_buffers_mapped()
    interrupts.install()
    try:
        cli.main(args=args, prog_name="lifeboat", standalone_mode=False)
    except Interrupted as e:
        command = _command()
        interrupts.exit_soon(e.exit_code)
        _fail(
            f"{e.message}" + (f" during lifeboat {command}" if command else ""),
            _AFTER_INTERRUPT.get(command, "nothing was left running: run the same command again"),
            e.exit_code,
        )
    except LifeboatError as e:
        if _state["verbose"]:
            traceback.print_exc()
        _fail(e.message, e.worded_hint(command_line), e.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted", "run the same command again", EXIT_INTERRUPTED)
    except click.ClickException as e:
        # Point at the help of the command that was typed (click does not always say which).
        command = _command()
        where = f"lifeboat {command} --help" if command else "lifeboat --help"
        _fail(e.format_message(), f"see: {where}", e.exit_code or 2)
    except KeyboardInterrupt:
        _fail("interrupted", "run the same command again", EXIT_INTERRUPTED)
    except Exception as e:
        _driver_error(e)
    sys.exit(0)


def _driver_error(e: Exception) -> None:
    """The driver's errors, worded for an operator; anything else is an internal error."""
    # pymongo is imported only when something failed (it is loaded by then if it raised).
    from pymongo.errors import ConnectionFailure, PyMongoError

    if isinstance(e, ConnectionFailure):
        err = SourceUnreachable(f"lost the connection to MongoDB: {readable(str(e))}")
        _fail(err.message, err.worded_hint(command_line), err.exit_code)
    if isinstance(e, PyMongoError):
        if _state["verbose"]:
            traceback.print_exc()
        _fail(f"MongoDB error: {readable(str(e))}", "rerun with -v for details", 1)
    _internal_error(e)


def _internal_error(e: Exception) -> None:
    if _state["verbose"]:
        traceback.print_exc()
    _fail(
        f"internal error: {type(e).__name__}: {e}",
        "rerun with -v for the traceback, and please report it",
        EXIT_INTERNAL,
    )


if __name__ == "__main__":
    main()
