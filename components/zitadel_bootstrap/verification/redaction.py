"""Keep credentials out of messages: text from servers and config values are shown only after this.

Redaction works by pattern: JWTs, opaque strings of 40 characters or more, and PEM blocks. What a caller knows to
be a secret (its own access token) is removed by value too. An opaque secret shorter than 40 characters that the
caller does not know gets through (docs/security.md, Known gaps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_JWT_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_OPAQUE_PATTERN = re.compile(r"[A-Za-z0-9_+/=-]{40,}")
_TRAILING_TOKEN = re.compile(r"[A-Za-z0-9_+/=.-]+$")
_PEM_PATTERN = re.compile(r"-----BEGIN[^-]*-----.*?(-----END[^-]*-----|$)", re.DOTALL)
#: The end of a PEM block whose BEGIN line is not in the text (cut off before it): the base64 lines before it too.
_PEM_TAIL_PATTERN = re.compile(r"(?:^[A-Za-z0-9+/=]*[ \t\r]*\n)*[^\n]*?-----END[^-]*-----", re.MULTILINE)
#: A value longer than this is not a path anyone types (PATH_MAX on Linux is 4096).
MAX_PATH_LENGTH = 4096
#: A long run of base64 alone (no dot, no space) is a key file in the REST gateway's base64 form, not a path.
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{200,}")


def redact(text: str, limit: int = 300, known: Iterable[str] = ()) -> str:
    """Make text safe to put into messages: no JWTs, long opaque strings or PEM blocks, and none of the ``known``
    secrets (by value), at most ``limit`` long."""
    for secret in known:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = redact_pem_blocks(text)
    text = _JWT_PATTERN.sub("[redacted]", text)
    text = _OPAQUE_PATTERN.sub("[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def redact_pem_blocks(text: str) -> str:
    """Text with each PEM block (BEGIN to END, across lines; an unterminated one to the end) replaced, and the tail
    of a block whose BEGIN line is missing. Apply to a whole output before cutting it into lines: line by line, a
    block's short last line and its END line look like nothing secret."""
    text = _PEM_PATTERN.sub("[redacted]", text)
    return _PEM_TAIL_PATTERN.sub("[redacted]", text)


def looks_like_key_material(value: str) -> bool:
    """Whether a value given as a path looks like a key pasted in its place: such a value is never quoted."""
    return (
        "{" in value
        or "PRIVATE KEY" in value
        or "\n" in value
        or "\r" in value
        or len(value) > MAX_PATH_LENGTH
        or _BASE64_BLOB.fullmatch(value) is not None
    )


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message about a refused value, redacted and cut short."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's int-to-str digit limit
        return "a number too large to print"
    if len(text) > 4 * limit:
        # Redact only what can be shown (a huge value would cost seconds), and drop the run of token characters the
        # cut may have split: a secret's tail too short to look like a secret is still part of one.
        text = _TRAILING_TOKEN.sub("", text[: 4 * limit]) + "..."
    return redact(text, limit)
