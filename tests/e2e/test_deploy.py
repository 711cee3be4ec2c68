"""The deployment files, checked without Docker or systemd (neither runs here): the image's
config is the shipped one with container paths, the Dockerfile copies what exists and agrees
with that config, and the unit and compose file say what the docs say they do."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_image_config_is_the_shipped_config_with_container_paths() -> None:
    shipped = toml(REPO / "config.toml")
    image = toml(REPO / "deploy" / "config.docker.toml")
    assert image["database"]["url"] == "sqlite:////data/monitor.db"
    assert image["server"]["listen"] == "0.0.0.0:8080"
    assert image["watchlists"]["dir"] == "/etc/monitor/watchlists"
    assert image["channels"]["local"]["path"] == "/data/digests"
    for document in (shipped, image):
        del document["database"]["url"], document["server"]["listen"]
        del document["watchlists"]["dir"], document["channels"]["local"]["path"]
    assert image == shipped  # feeds, polling, retention...: kept in step
    settings = load_settings(REPO / "deploy" / "config.docker.toml", environ={})
    assert settings.server.host_port == ("0.0.0.0", 8080)


def test_dockerfile_copies_what_exists_and_matches_the_config() -> None:
    for source in re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, flags=re.MULTILINE):
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert "COPY deploy/config.docker.toml /etc/monitor/config.toml" in DOCKERFILE
    assert "MONITOR_CONFIG=/etc/monitor/config.toml" in DOCKERFILE
    # The migrations ship inside the package: nothing to copy or point at.
    assert "MONITOR_MIGRATIONS" not in DOCKERFILE and "COPY alembic" not in DOCKERFILE
    assert re.search(r"^USER monitor$", DOCKERFILE, flags=re.MULTILINE)
    assert 'VOLUME ["/data"]' in DOCKERFILE
    assert "FROM python:3.11-slim" in DOCKERFILE
    healthcheck = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert "http://127.0.0.1:8080/healthz" in healthcheck and "curl" not in healthcheck
    assert DOCKERFILE.rstrip().endswith('CMD ["monitor", "run"]')


def test_dockerignore_keeps_the_copied_paths() -> None:
    ignored = {
        line.strip().lstrip("/")
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("monitor", "deploy", "watchlists", "pyproject.toml", "README.md"):
        assert needed not in ignored


def test_systemd_unit_stops_monitor_alone_within_its_budget() -> None:
    unit = (REPO / "deploy" / "monitor.service").read_text(encoding="utf-8")
    assert "KillMode=mixed" in unit and "KillSignal=SIGTERM" in unit
    timeout = re.search(r"^TimeoutStopSec=(\d+)$", unit, flags=re.MULTILINE)
    assert timeout is not None and int(timeout[1]) > 10
    assert re.search(r"^ExecStart=\S+/monitor .*run$", unit, flags=re.MULTILINE)
    assert "MONITOR_MIGRATIONS=" not in unit and "User=monitor" in unit


def test_compose_migrates_once_before_two_workers() -> None:
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert "image: postgres:" in compose and "pg_isready" in compose
    assert 'command: ["monitor", "db", "upgrade"]' in compose
    assert compose.count("condition: service_completed_successfully") == 2
    assert compose.count('command: ["monitor", "run"]') == 2


def test_the_image_installs_pinned_dependencies_from_the_lock_file() -> None:
    lock = (REPO / "deploy" / "requirements.lock").read_text(encoding="utf-8")
    pins = {}
    for line in lock.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[\w.+-]+", version), f"not pinned: {line}"
            pins[name.lower().replace("_", "-")] = version
    project = toml(REPO / "pyproject.toml")["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    for requirement in wanted:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is a runtime dependency missing from the lock file"
    assert "datasketch" not in pins and "pytest" not in pins
    assert "pip install --no-deps -r requirements.lock" in DOCKERFILE
    assert "pip install --no-deps ." in DOCKERFILE


def test_systemd_unit_is_hardened_and_does_not_restart_on_a_bad_config() -> None:
    unit = (REPO / "deploy" / "monitor.service").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["RestartPreventExitStatus"] == "2"  # exit 2: invalid config, see README
    for option, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ReadWritePaths": "/var/lib/monitor",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings.get(option) == value, option
    assert "SystemCallFilter=@system-service" in unit


@pytest.mark.slow
def test_systemd_analyze_rates_the_unit_below_two() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(REPO / "deploy" / "monitor.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for monitor\.service: ([\d.]+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found[1]) < 2.0
