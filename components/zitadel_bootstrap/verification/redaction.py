"""Keep credentials out of messages: text from servers and config values are shown only after this."""

from __future__ import annotations

import re

_JWT_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_OPAQUE_PATTERN = re.compile(r"[A-Za-z0-9_+/=-]{40,}")
_TRAILING_TOKEN = re.compile(r"[A-Za-z0-9_+/=.-]+$")
_PEM_PATTERN = re.compile(r"-----BEGIN[^-]*-----.*?(-----END[^-]*-----|$)", re.DOTALL)


def redact(text: str, limit: int = 300) -> str:
    """Make text safe to put into messages: no JWTs, long opaque strings or PEM blocks, at most ``limit`` long."""
    text = _PEM_PATTERN.sub("[redacted]", text)
    text = _JWT_PATTERN.sub("[redacted]", text)
    text = _OPAQUE_PATTERN.sub("[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
