"""Namespace filters and renames with mongorestore's ``--nsInclude/--nsExclude/--nsFrom/--nsTo`` rules.

- ``*`` is a wildcard that matches its smallest valid occurrence;
- ``\\*`` and ``\\\\`` are a literal asterisk and backslash;
- in renames, ``$name$`` variables capture a part and may be reordered; plain
  asterisks correspond to each other in order.
- Includes are applied first, then excludes; the first matching rename wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import UsageError

_VAR = re.compile(r"\$([A-Za-z0-9_]+)\$")


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """Split a pattern into ('lit', text) / ('star', '') / ('var', name) tokens."""
    out: list[tuple[str, str]] = []
    i, lit = 0, []
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\$":
            lit.append(pattern[i + 1])
            i += 2
            continue
        if ch == "*":
            out.append(("lit", "".join(lit)))
            lit = []
            out.append(("star", ""))
            i += 1
            continue
        m = _VAR.match(pattern, i)
        if ch == "$" and m:
            out.append(("lit", "".join(lit)))
            lit = []
            out.append(("var", m.group(1)))
            i = m.end()
            continue
        lit.append(ch)
        i += 1
    out.append(("lit", "".join(lit)))
    return [t for t in out if t != ("lit", "")]


def _check_pattern(pattern: str, option: str) -> None:
    """A pattern that cannot mean what was meant is refused, never matched against nothing."""
    hint = (
        "a namespace pattern is DB.COLLECTION with * as a wildcard; write \\* or \\\\ for a literal * or \\"
    )
    if not pattern.strip():
        raise UsageError(f"{option} is empty", hint)
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in "*\\$":
                raise UsageError(f"{option} {pattern!r}: a backslash escapes only *, \\ or $", hint)
            i += 2
            continue
        i += 1


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for kind, text in _tokens(pattern):
        if kind == "lit":
            parts.append(re.escape(text))
        elif kind == "star":
            parts.append("(.*?)")
        else:
            parts.append(f"(?P<{text}>.*?)")
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


@dataclass(frozen=True)
class _Rename:
    source: re.Pattern[str]
    target: list[tuple[str, str]]

    def apply(self, ns: str) -> str | None:
        m = self.source.match(ns)
        if not m:
            return None
        stars = iter(g for i, g in enumerate(m.groups(), 1) if i not in m.re.groupindex.values())
        out = []
        for kind, text in self.target:
            if kind == "lit":
                out.append(text)
            elif kind == "star":
                out.append(next(stars, ""))
            else:
                out.append(m.group(text))
        return "".join(out)


@dataclass(frozen=True)
class NamespaceMap:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    renames: tuple[tuple[str, str], ...] = ()
    _inc: tuple[re.Pattern[str], ...] = field(default=(), repr=False)
    _exc: tuple[re.Pattern[str], ...] = field(default=(), repr=False)
    _ren: tuple[_Rename, ...] = field(default=(), repr=False)

    @classmethod
    def build(
        cls,
        include: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        ns_from: list[str] | tuple[str, ...] = (),
        ns_to: list[str] | tuple[str, ...] = (),
    ) -> NamespaceMap:
        for option, patterns in (
            ("--ns-include", include),
            ("--ns-exclude", exclude),
            ("--ns-from", ns_from),
            ("--ns-to", ns_to),
        ):
            for pattern in patterns:
                _check_pattern(pattern, option)
        if len(ns_from) != len(ns_to):
            raise UsageError(
                f"--ns-from given {len(ns_from)} time(s) but --ns-to {len(ns_to)} time(s)",
                "give one --ns-to for each --ns-from, in the same order",
            )
        renames = []
        for src, dst in zip(ns_from, ns_to, strict=True):
            src_vars = {t for k, t in _tokens(src) if k == "var"}
            dst_tokens = _tokens(dst)
            missing = {t for k, t in dst_tokens if k == "var"} - src_vars
            if missing:
                raise UsageError(f"--ns-to {dst!r} uses ${missing.pop()}$, which --ns-from does not define")
            stars = sum(1 for k, _ in _tokens(src) if k == "star")
            if sum(1 for k, _ in dst_tokens if k == "star") != stars:
                raise UsageError(
                    f"--ns-from {src!r} and --ns-to {dst!r} have different numbers of '*'",
                    "asterisks correspond one to one, in order",
                )
            renames.append(_Rename(_compile(src), dst_tokens))
        return cls(
            tuple(include),
            tuple(exclude),
            tuple(zip(ns_from, ns_to, strict=True)),
            tuple(_compile(p) for p in include),
            tuple(_compile(p) for p in exclude),
            tuple(renames),
        )

    def selected(self, ns: str) -> bool:
        if self._inc and not any(p.match(ns) for p in self._inc):
            return False
        return not any(p.match(ns) for p in self._exc)

    def target(self, ns: str) -> str | None:
        """The target namespace for source ``ns``, or None when it is filtered out."""
        if not self.selected(ns):
            return None
        for rename in self._ren:
            renamed = rename.apply(ns)
            if renamed is not None:
                return renamed
        return ns

    def view_on(self, db: str, view_on: str) -> str:
        """A view's ``viewOn`` (a collection in its own database) after renames."""
        target = self.target(f"{db}.{view_on}")
        return target.split(".", 1)[1] if target is not None else view_on

    @property
    def is_identity(self) -> bool:
        return not (self.include or self.exclude or self.renames)


# Namespaces a restore never writes into: the server's own, and every system collection
# (time-series buckets excepted: they come with their collection).
_RESERVED_DBS = ("local", "config")
_UNSAFE = re.compile(r"[/\\\x00$]|\.\.|^\.|\.$")


def target_problem(ns: str, renamed: bool) -> str | None:
    """Why ``ns`` cannot be a restore target; None when it can. A name given by a rename must
    also be one a path could not misread (no /, \\, .., NUL or $)."""
    db, _, coll = ns.partition(".")
    if not db or not coll:
        return "a namespace is DB.COLLECTION"
    if db in _RESERVED_DBS:
        return f"{db}.* belongs to the server"
    if len(db.encode()) >= 64:
        return f"a database name has fewer than 64 bytes (this one has {len(db.encode())})"
    if len(ns.encode()) > 255:
        return f"a namespace is at most 255 bytes (this one has {len(ns.encode())})"
    if coll.startswith("system.") and not coll.startswith("system.buckets."):
        return "system collections are the server's (users and roles are restored on their own)"
    if renamed and (_UNSAFE.search(db) or _UNSAFE.search(coll)):
        return "a renamed target may not hold /, \\, .., NUL or $, nor start or end with a dot"
    return None


def literal_pattern(ns: str) -> str:
    """A pattern that matches exactly ``ns`` (wildcards and variables escaped)."""
    return re.sub(r"([\\*$])", r"\\\1", ns)
