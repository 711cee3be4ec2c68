"""Secrets out of error texts: pure string work, no environment.

A channel's secrets (an SMTP password, webhook signing secrets, Apprise URLs with their
tokens) must never reach the database or the log, even when a server echoes them back (an
SMTP server that repeats the AUTH exchange puts the password, base64-encoded, in its reply).
`secret_forms` lists the spellings in which a secret can come back; `scrub` replaces each.
Feed URLs carry secrets too (`?token=...`, `?api_key=...`, `user:password@`): `url_secrets`
finds them, so feed errors that quote the URL are stored and logged without them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit

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


# Query parameter names that hold credentials: api_key, apikey, access_token, secret, sig...
_SECRET_PARAMETER = re.compile(
    r"key|token|secret|passw|pwd|auth|sig|credential|session|ticket", re.IGNORECASE
)


def url_secrets(url: str) -> set[str]:
    """The credentials in a URL, in every form `secret_forms` knows: the values of query
    parameters named like keys, tokens, secrets or passwords, and a password in `user:pass@`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can read: nothing to find in it
        return set()
    found = {value for name, value in parse_qsl(parts.query) if _SECRET_PARAMETER.search(name)}
    if password:
        found.add(password)
    # As written too: a value may be percent-encoded in the URL and decoded by parse_qsl.
    for piece in parts.query.split("&"):
        name, _, value = piece.partition("=")
        if value and _SECRET_PARAMETER.search(name):
            found.add(value)
    return {form for secret in found for form in secret_forms(secret)}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of every secret replaced by [redacted], longest first
    (so a secret that contains another is masked whole)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= SHORTEST:
            text = text.replace(secret, MASK)
    return text
