"""Secrets out of error texts: pure string work, no environment.

A channel's secrets (an SMTP password, webhook signing secrets, Apprise URLs with their
tokens) must never reach the database or the log, even when a server echoes them back (an
SMTP server that repeats the AUTH exchange puts the password, base64-encoded, in its reply).
`secret_forms` lists the spellings in which a secret can come back; `scrub` replaces each.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote

MASK = "[redacted]"
SHORTEST = 4  # shorter values would mask ordinary words; no real secret is that short


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def secret_forms(secret: str, *, username: str | None = None) -> set[str]:
    """The secret as it was given, URL-quoted, and base64-encoded (alone, and as SMTP AUTH
    PLAIN and LOGIN send it with the user name)."""
    if len(secret) < SHORTEST:
        return set()
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), _b64(raw), _b64(raw).rstrip("=")}
    if username:
        user = username.encode("utf-8")
        forms.add(_b64(b"\0" + user + b"\0" + raw))
        forms.add(_b64(user + b"\0" + user + b"\0" + raw))
    return {form for form in forms if len(form) >= SHORTEST}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of every secret replaced by [redacted], longest first
    (so a secret that contains another is masked whole)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= SHORTEST:
            text = text.replace(secret, MASK)
    return text
