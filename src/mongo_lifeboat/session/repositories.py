"""Opening the repositories a run works on: the one named, or every one of the plan as one."""

from __future__ import annotations

import functools

from .. import config
from ..config import RepositorySettings
from ..errors import RepositoryError
from ..repo.backends import open_storage
from ..repo.mirror import Member
from ..repo.repository import Repository
from ..repo.storage import Storage
from ..secrets import redact
from . import Session


def open_repository(ctx: Session, repo: str | None, every: bool = False) -> Repository:
    """Every command opens its repository here: --repo, else $LIFEBOAT_REPO, else the plan's
    first; with the plan's settings for it (S3 endpoint, region, profile, storage class, key).

    ``every``: given no repository of its own, the command works on every repository of the
    plan as one (``repo.mirror``): backups and the archive are written to each, reads come
    from the first that has what is needed and passes its checksum. A repository that cannot
    be opened, or fails later, is left out with a warning and the others carry on. A named
    repository is never swapped for another."""
    url = config.repo_url(repo, ctx.plan)
    named = config.named_repo(repo)
    if not every or named or len(ctx.plan.repository) < 2:
        return Repository.open(url, config.repository_settings(url, ctx.plan))
    members: list[Member] = []
    first: Repository | None = None
    failure: RepositoryError | None = None
    for r in ctx.plan.repository:
        settings = config.repository_settings(r.url, ctx.plan)
        try:
            opened = Repository.open(r.url, settings)
        except RepositoryError as e:
            failure = e
            ctx.output.warn(
                f"repository {r.name} ({redact(r.url)}) cannot be opened ({e.message}); going on without it"
            )
            # Kept as a member that is down: the run reports it missed, the archiver retries it.
            members.append(
                Member(
                    r.name,
                    open_storage(r.url, settings),
                    down=f"open: {e.message}",
                    reopen=functools.partial(_storage_of, r.url, settings),
                )
            )
            continue
        first = first or opened
        members.append(Member(r.name, opened.storage))
    if first is None:
        assert failure is not None
        raise failure
    repository = Repository.mirrored(members, first.info)
    repository.listen(lambda notice: ctx.output.warn(notice.message))
    return repository


def _storage_of(url: str, settings: RepositorySettings | None) -> Storage:
    return Repository.open(url, settings).storage
