"""Start the agent and its web server together; stop both on SIGTERM."""

from __future__ import annotations

import threading
from pathlib import Path

import uvicorn

from ..session import Session
from .service import Agent
from .views import Views
from .web import allowed_hosts, build_app


def serve(ctx: Session, plan_path: Path, host: str, port: int, token: str | None) -> None:
    agent = Agent(ctx, plan_path)
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(Views(agent), token, allowed_hosts(host, ctx.plan.agent.allowed_hosts)),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    web = threading.Thread(target=server.run, name="dashboard", daemon=True)

    def ready() -> None:
        web.start()
        while not server.started and web.is_alive():
            threading.Event().wait(0.05)
        bound = server.servers[0].sockets[0].getsockname() if server.servers else (host, port)
        ctx.output.note(f"lifeboat agent: dashboard on http://{bound[0]}:{bound[1]}/ (plan {plan_path})")

    try:
        agent.run(on_ready=ready)
    finally:
        server.should_exit = True
        web.join(10)
