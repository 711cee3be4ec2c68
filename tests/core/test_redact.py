"""core.redact: every spelling in which a secret can come back is masked."""

from __future__ import annotations

import base64

import pytest

from monitor.adapters.channels import channel_secrets
from monitor.config import parse_settings
from monitor.core.redact import MASK, scrub, secret_forms, url_secrets

PASSWORD = "s3cret/pa ss"


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(PASSWORD, id="verbatim"),
        pytest.param("s3cret%2Fpa%20ss", id="url-quoted"),
        pytest.param(base64.b64encode(PASSWORD.encode()).decode(), id="base64 (AUTH LOGIN)"),
        pytest.param(
            base64.b64encode(b"\0monitor\0" + PASSWORD.encode()).decode(), id="AUTH PLAIN"
        ),
    ],
)
def test_each_form_is_masked(echo: str) -> None:
    text = f"535 authentication failed for {echo} (try again)"
    clean = scrub(text, secret_forms(PASSWORD, username="monitor"))
    assert echo not in clean and MASK in clean and clean.startswith("535 authentication")


def test_short_values_are_not_secrets() -> None:
    assert secret_forms("abc") == set()
    assert scrub("a b c", ["a"]) == "a b c"


def test_channel_secrets_come_from_the_environment_and_credential_headers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = parse_settings(
        {
            "channels": {
                "hook": {
                    "type": "webhook",
                    "url": "https://hooks.example.org/x",
                    "secret_env": "HOOK",
                    "headers": {"Authorization": "Bearer tok-123456", "X-Team": "desk"},
                }
            }
        },
        tmp_path / "config.toml",
    )
    found = channel_secrets(settings.channels["hook"], {"HOOK": "whsec_QUJDREVGR0g= whsec_other1"})
    assert {"whsec_QUJDREVGR0g=", "QUJDREVGR0g=", "whsec_other1", "tok-123456"} <= found
    assert "desk" not in found


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        pytest.param("https://api.example/rss?api_key=k3y-9f8e7d", "k3y-9f8e7d", id="api_key"),
        pytest.param("https://x.example/f?lang=en&token=t0k%2Fen", "t0k%2Fen", id="quoted token"),
        pytest.param("https://x.example/f?AccessToken=abcd1234", "abcd1234", id="any case"),
        pytest.param("https://x.example/f?sig=zzzz9999&v=2", "zzzz9999", id="signature"),
        pytest.param("https://reader:pa55word@x.example/f", "pa55word", id="user:password@"),
    ],
)
def test_feed_url_credentials_are_found(url: str, secret: str) -> None:
    text = f"timed out after 30s fetching {url}"
    clean = scrub(text, url_secrets(url))
    assert secret not in clean and MASK in clean
    assert clean.startswith("timed out after 30s fetching http")  # the rest stays readable


def test_ordinary_query_parameters_are_kept() -> None:
    url = "https://x.example/rss?lang=en&page=2&category=defence"
    assert url_secrets(url) == set()
    assert url_secrets("http://[broken/rss?token=abcd1234") == set()
