"""config.toml validation: every problem reported as FILE: KEY: WHAT, naming what is valid."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import database_url, load_settings, parse_settings
from monitor.core.units import format_duration, parse_duration, parse_size
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def problems(data: dict, path: str = "config.toml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, Path(path))
    return caught.value.problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"polling": {"timeout": "30x"}},
            "config.toml: polling.timeout: invalid duration '30x': use a number followed by s, m, h, d or w",
            id="bad-duration",
        ),
        pytest.param(
            {"polling": {"max_bytes": "ten"}},
            "config.toml: polling.max_bytes: invalid size 'ten': use a number followed by B, KB, MB or GB",
            id="bad-size",
        ),
        pytest.param(
            {"polling": {"intervall": "5m"}},
            "config.toml: polling.intervall: unknown key; valid keys here: allow_private_networks, backlog, backlog_bytes, concurrency",
            id="unknown-key-names-valid-ones",
        ),
        pytest.param(
            {"databse": {}},
            "config.toml: databse: unknown key; valid keys here: channels, database",
            id="unknown-section",
        ),
        pytest.param(
            {"polling": {"concurrency": "many"}},
            "config.toml: polling.concurrency: input should be a valid integer",
            id="wrong-type",
        ),
        pytest.param(
            {"polling": {"concurrency": 0}},
            "config.toml: polling.concurrency: Input should be greater than or equal to 1",
            id="out-of-range",
        ),
        pytest.param(
            {"feeds": [{"name": "a", "url": "ftp://x"}]},
            "config.toml: feeds[0].url: invalid value 'ftp://x': must be an http:// or https:// URL",
            id="feed-url-scheme",
        ),
        pytest.param(
            {"feeds": [{"url": "https://x"}]},
            "config.toml: feeds[0].name: required key is missing",
            id="feed-name-missing",
        ),
        pytest.param(
            {"feeds": [{"name": "a", "url": "https://x"}, {"name": "a", "url": "https://y"}]},
            "config.toml: feeds: feed name 'a' is used twice",
            id="duplicate-feed",
        ),
        pytest.param(
            {"channels": {"x": {"type": "pigeon"}}},
            'config.toml: channels.x: channel "type" must be one of "file", "email", "webhook", "apprise"',
            id="channel-type",
        ),
        pytest.param(
            {"channels": {"x": {"type": "file", "path": "d", "colour": 1}}},
            "config.toml: channels.x.colour: unknown key; valid keys here: path, type",
            id="channel-unknown-key",
        ),
        pytest.param(
            {"channels": {"x": {"type": "apprise", "urls_env": "X", "colour": 1}}},
            "config.toml: channels.x.colour: unknown key; valid keys here: timeout, type, urls_env",
            id="apprise-unknown-key",
        ),
        pytest.param(
            {
                "channels": {
                    "m": {
                        "type": "email",
                        "host": "h",
                        "sender": "a@b",
                        "to": ["c@d"],
                        "security": "ssl",
                    }
                }
            },
            "config.toml: channels.m.security: must be 'starttls', 'tls' or 'none', got 'ssl'",
            id="email-security",
        ),
        pytest.param(
            {
                "channels": {
                    "m": {
                        "type": "email",
                        "host": "h",
                        "sender": "a@b",
                        "to": ["c@d"],
                        "username": "u",
                    }
                }
            },
            "config.toml: channels.m: username is set but password_env is not",
            id="login-without-password-env",
        ),
        pytest.param(
            {"channels": {"w": {"type": "webhook", "url": "https://h", "format": "xml"}}},
            "config.toml: channels.w.format: must be 'json', 'slack', 'discord' or 'teams', got 'xml'",
            id="webhook-format",
        ),
        pytest.param(
            {"server": {"listen": "8080"}},
            'config.toml: server.listen: must be "HOST:PORT"',
            id="listen",
        ),
    ],
)
def test_invalid_config_is_reported_with_file_key_and_what(data: dict, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(data)), problems(data)


def test_every_problem_is_reported_not_just_the_first() -> None:
    found = problems({"polling": {"timeout": "x", "max_bytes": "y"}, "bogus": 1})
    assert len(found) == 3


def test_shipped_config_loads_and_is_sqlite_next_to_it() -> None:
    settings = load_settings(REPO / "config.toml", environ={})
    assert database_url(settings) == f"sqlite:///{REPO / 'data' / 'monitor.db'}"
    assert len(settings.feeds) >= 15
    assert settings.channels["local"].type == "file"
    assert settings.resolve(settings.channels["local"].path) == REPO / "data" / "digests"
    assert settings.watchlist_dir == REPO / "watchlists"


def test_config_location_and_database_url_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[polling]\ninterval = "5m"\n')
    env = {"MONITOR_CONFIG": str(config), "MONITOR_DATABASE_URL": "postgresql+psycopg://u@h/db"}
    settings = load_settings(None, environ=env)
    assert settings.polling.interval == timedelta(minutes=5)
    assert database_url(settings) == "postgresql+psycopg://u@h/db"
    # --config wins over $MONITOR_CONFIG
    other = tmp_path / "other.toml"
    other.write_text('[polling]\ninterval = "7m"\n')
    assert load_settings(other, environ=env).polling.interval == timedelta(minutes=7)


def test_missing_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "nope.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[polling\n")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML: .*line 1"):
        load_settings(broken, environ={})


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21600), ("7d", 604800), ("1.5h", 5400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "-5m", "0s", "15 minutes", "5y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [("512KB", 512_000), ("10MB", 10_000_000), ("1MiB", 1_048_576), ("100B", 100)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_format_duration_round_trips() -> None:
    for text in ["90s", "15m", "6h", "7d", "14d"]:
        assert format_duration(parse_duration(text)) == text


def test_the_outbox_lease_defaults_to_a_minute_beyond_the_slowest_send() -> None:
    from monitor.flows.outbox import delivery_lease

    hook = {"type": "webhook", "url": "https://h", "timeout": "45s"}
    default = parse_settings({"channels": {"w": hook}}, Path("config.toml"))
    assert delivery_lease(default) == timedelta(seconds=105)
    short = parse_settings(
        {"channels": {"w": hook}, "delivery": {"lease": "50s"}}, Path("config.toml")
    )
    assert delivery_lease(short) == timedelta(seconds=50)


def test_an_outbox_lease_shorter_than_a_send_timeout_is_refused() -> None:
    # The lease would end while the send runs: another worker could send the row again.
    hook = {"type": "webhook", "url": "https://h", "timeout": "45s"}
    found = problems({"channels": {"w": hook}, "delivery": {"lease": "45s"}})
    assert any(
        "delivery.lease (45s) must be longer than the slowest send timeout (45s)" in p
        for p in found
    ), found
