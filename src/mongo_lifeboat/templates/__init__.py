"""The HTML pages Lifeboat writes (the agent's dashboard, a drill's report), one Jinja
environment over the template files beside this module. Everything is autoescaped: names
of databases, collections and hosts come from the data."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("mongo_lifeboat", "templates"), autoescape=select_autoescape(default=True)
    )


def render_page(name: str, **context: Any) -> str:
    return str(_environment().get_template(name).render(**context))
