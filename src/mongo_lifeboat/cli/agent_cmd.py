"""``lifeboat agent``: run the plan unattended, and serve its dashboard."""

from __future__ import annotations

import ipaddress

import click

from ..errors import ConfigError, UsageError
from ..secrets import register
from ..session import Session
from .options import app, parse_listen


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Dashboard, /api and /metrics (default [agent] listen).",
)
@app
def agent(ctx: Session, listen: str | None) -> None:
    """Carry out the plan unattended: archiver, backups, prune, drills, checks, alerts, dashboard."""
    if ctx.plan_path is None:
        raise ConfigError(
            "the agent needs a plan file", "pass --config lifeboat.toml (write one with: lifeboat plan init)"
        )
    if not ctx.plan.repository or not ctx.plan.deployment.source:
        raise ConfigError(
            "the plan names no source or no repository: the agent has nothing to protect",
            "set [deployment] source and at least one [[repository]]",
        )
    host, port = parse_listen(listen or ctx.plan.agent.listen, "127.0.0.1:8077")
    token = ctx.plan.agent.token
    if token:
        register(token)
    elif not _loopback(host):
        raise UsageError(
            f"the dashboard would be open to the network on {host}",
            "set [agent] token (sent as a bearer token or basic-auth password), or listen on 127.0.0.1",
        )
    from ..agent.server import serve  # the agent's libraries load only for the agent

    serve(ctx, ctx.plan_path, host, port, token)
