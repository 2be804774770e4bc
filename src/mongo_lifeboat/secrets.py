"""Keep credentials out of everything Lifeboat prints or stores."""

from __future__ import annotations

import re

# mongodb://user:password@host -> mongodb://user:***@host (also +srv, s3 and http URLs)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
# password=... or secret=... query options and key=value pairs
_KV = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|secret_access_key|aws_secret_access_key|tlsCertificateKeyFilePassword)=([^&\s]+)"
)


def redact(text: str) -> str:
    """Replace any password-like substring of ``text`` with ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KV.sub(lambda m: f"{m.group(1)}=***", text)
