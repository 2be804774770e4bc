"""File names of a mongodump directory.

mongodump escapes a collection name with Go's ``url.PathEscape`` (so ``cafés`` is
``caf%C3%A9s`` while ``$``, ``+``, ``:``, ``=``, ``@`` and ``&`` stay as they are) and
mongorestore reads it back with ``url.PathUnescape``; we do the same, so ``+`` is a
plus sign, never a space. An escaped name over 238 bytes is cut and made unique with a
hash of the real name; only ``collectionName`` in the metadata then says what it was.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote, unquote

_PATH_SAFE = "$&+:=@"  # besides letters, digits and -._~ (as Go's PathEscape)
MAX_ESCAPED_BYTES = 238
_KEEP_BYTES = 208
_HASH_MARK = "%24"  # an escaped '$'

_BAD_DB_CHARS = set('/\\. "$\x00')


def escape_collection(name: str) -> str:
    escaped = quote(name, safe=_PATH_SAFE)
    if len(escaped) <= MAX_ESCAPED_BYTES:
        return escaped
    digest = base64.urlsafe_b64encode(hashlib.sha1(name.encode()).digest()).rstrip(b"=").decode()
    return escaped[:_KEEP_BYTES] + _HASH_MARK + digest


def unescape_collection(stem: str) -> str:
    return unquote(stem, errors="strict")


def is_shortened(stem: str) -> bool:
    """True when a file stem is a cut, hashed name (its real name is only in the metadata)."""
    return len(stem) == _KEEP_BYTES + len(_HASH_MARK) + 27 and stem[_KEEP_BYTES:].startswith(_HASH_MARK)


def db_name_problem(db: str) -> str | None:
    """Why ``db`` cannot be a database name, or None."""
    if not db:
        return "an empty database name"
    if len(db.encode()) >= 64:
        return f"database name {db[:40]!r}… is longer than 63 bytes"
    bad = sorted(_BAD_DB_CHARS & set(db))
    if bad:
        return f"database name {db!r} contains {''.join(bad)!r}"
    return None


def collection_name_problem(name: str) -> str | None:
    if not name:
        return "an empty collection name"
    if "\x00" in name:
        return f"collection name {name!r} contains a NUL byte"
    if name.startswith("$") and not name.startswith("$admin.system."):
        return f"collection name {name!r} starts with '$'"
    return None
