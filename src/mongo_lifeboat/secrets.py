"""Keep credentials out of everything Lifeboat prints or stores."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

# mongodb://user:password@host -> mongodb://user:***@host (also +srv, s3 and http URLs)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
# password=... or secret=... query options and key=value pairs
_KV = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|secret_access_key|aws_secret_access_key|tlsCertificateKeyFilePassword|token|apikey|accountkey|sharedaccesssignature|sig)=([^&\s]+)"
)
# Values known to be secret (read from ${VAR} in the plan, notification URLs): replaced
# wherever they appear, whatever the text around them looks like.
_KNOWN: set[str] = set()
_MIN_SECRET = 4  # shorter values would blank out ordinary words


def register(value: str) -> None:
    if len(value) >= _MIN_SECRET:
        _KNOWN.add(value)


def redact(text: str) -> str:
    """Replace any password-like substring of ``text`` with ``***``."""
    if not text:
        return text
    for value in sorted(_KNOWN, key=len, reverse=True):
        text = text.replace(value, "***")
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KV.sub(lambda m: f"{m.group(1)}=***", text)


# Notification URLs carry their token anywhere (slack://T000/B000/XXXX): only a web hook's
# host is shown, nothing else.
_WEB = {"json", "jsons", "form", "forms", "xml", "xmls", "http", "https"}


def redact_notify_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme or "?"
    if scheme in _WEB and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{scheme}://{parts.hostname}{port}/***"
    return f"{scheme}://***"


# A hook command's credentials: bearer tokens and Authorization headers, user:pass@ in URLs
# (redact() covers those and key=value pairs), and the paths of URLs it calls.
_BEARER = re.compile(r"(?i)(bearer\s+|authorization:\s*(?:basic|bearer)?\s*)([^\s'\"]+)")


def holds_credential(text: str) -> bool:
    """Whether ``text`` carries a password, a key=value secret or a bearer token."""
    return redact(text) != text or _BEARER.search(text) is not None


def redact_command(command: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)}***", redact(command))
    return _URL_TAIL.sub(lambda m: f"{m['head']}/***", text)


# Libraries that log the URLs they send to, whose paths and queries carry tokens.
_URL_LOGGERS = ("apprise",)
_URL_TAIL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/?\s'\"]+)[/?][^\s'\"]*")


class RedactingFilter(logging.Filter):
    """On a log handler: every record is redacted once formatted (libraries log URIs too);
    a notification library's URLs keep only their scheme and host."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = redact(record.getMessage())
        if record.name.startswith(_URL_LOGGERS):
            text = _URL_TAIL.sub(lambda m: f"{m['head']}/***", text)
        record.msg, record.args = text, None
        return True
