"""The shipped Prometheus rules (deploy/prometheus/monitor.rules.yml): the same as the
README's, each with `promtool test rules` cases (tests/data/monitor.rules.test.yml), and the
labelled series they read exist at zero from start-up."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from monitor.service.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "monitor.rules.yml"
CASES = REPO / "tests" / "data" / "monitor.rules.test.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian/Ubuntu: apt-get install prometheus)")
    return found


def alerts(text: str) -> dict[str, str]:
    return dict(re.findall(r"- alert: (\w+)\n\s+expr: (.+)", text))


def test_the_readme_shows_the_shipped_rules() -> None:
    shipped = alerts(RULES.read_text(encoding="utf-8"))
    readme = REPO.joinpath("README.md").read_text(encoding="utf-8")
    assert len(shipped) == 5
    assert alerts(readme) == shipped


def test_every_shipped_rule_has_promtool_cases() -> None:
    cases = set(re.findall(r"alertname: (\w+)", CASES.read_text(encoding="utf-8")))
    assert cases == set(alerts(RULES.read_text(encoding="utf-8")))


def test_promtool_checks_the_rules_and_passes_their_cases() -> None:
    tool = promtool()
    checked = subprocess.run(
        [tool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", CASES.name],
        cwd=CASES.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_labelled_counters_start_at_zero() -> None:
    metrics = Metrics()
    metrics.start_at_zero(["push", "mail"], ["s400"])
    text = metrics.exposition().decode()
    for channel in ("push", "mail"):
        for outcome in ("delivered", "failed", "dead"):
            line = f'monitor_deliveries_total{{channel="{channel}",outcome="{outcome}"}} 0.0'
            assert line in text
    assert 'monitor_digests_created_total{watchlist="s400"} 0.0' in text
    assert 'monitor_matches_total{watchlist="s400"} 0.0' in text
    assert 'monitor_feeds_polled_total{outcome="failed"} 0.0' in text
