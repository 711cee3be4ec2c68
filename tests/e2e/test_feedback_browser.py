"""End to end: the one-click feedback links, as an analyst uses them. `monitor run` (a real
subprocess) polls a feed on loopback and writes an immediate alert to a file channel with
`public_url` set; a real headless Chromium (Debian's, driven by Selenium through Debian's
chromedriver) opens the "Not relevant" link of the HTML file, sees the confirmation page,
presses its button, and the label is in `monitor feedback list --format json`. A prefetch
(the GET a mail scanner makes), the same link again, a changed token and an expired one
store nothing and get a 4xx."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_fixtures import free_port
from harness import monitor_command, monitor_json, run_monitor, running, wait_for, write_config
from loopback import FeedServer, Route

from monitor.core.feedback_tokens import FeedbackClaim, mint_token
from monitor.core.states import FeedbackLabel

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SECRET = "e2e-feedback-secret-0123456789abcdef"

WATCHLIST = """name = "S-400 desk"
threshold = 1.0
alert_threshold = 2.0
schedule = "0 7 * * *"
channels = ["local"]

[[terms]]
match = "S-400"
weight = 5.0
"""


def rss(now: datetime) -> bytes:
    stamp = format_datetime(now)
    items = "".join(
        f"<item><guid>urn:e2e:{n}</guid><title>{title}</title>"
        f"<link>https://news.example/{n}</link><pubDate>{stamp}</pubDate>"
        f"<description>{text}</description></item>"
        for n, title, text in [
            (1, "Turkey tests its S-400 radar", "Ankara switched on the S-400 radar on Friday."),
        ]
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>wire</title>'
        f"<link>https://news.example/</link><description>e2e</description>{items}</channel></rss>"
    ).encode()


def browser() -> Any:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"needs Chromium and its driver at {CHROMIUM} and {CHROMEDRIVER}: "
            "apt-get install chromium chromium-driver (.ci/run does)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=900,700")
    # The driver is Debian's: Selenium Manager must never download one.
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture
def deployment(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, int]]:
    monkeypatch.setenv("MONITOR_FEEDBACK_SECRET", SECRET)
    url = feed_server.add("/wire.xml", Route(rss(datetime.now(UTC)), etag='"w"'))
    port = free_port()
    config = write_config(
        tmp_path / "config.toml",
        '[database]\nurl = "sqlite:///data/monitor.db"\n',
        "[polling]\nparse_processes = 0\n",
        f'[server]\nlisten = "127.0.0.1:{port}"\npublic_url = "http://127.0.0.1:{port}/"\n'
        'feedback_secret_env = "MONITOR_FEEDBACK_SECRET"\nfeedback_link_days = 7\n',
        '[watchlists]\ndir = "watchlists"\n',
        '[channels.local]\ntype = "file"\npath = "data/digests"\n',
        feeds=[("wire", url)],
    )
    (tmp_path / "watchlists" / "s400.toml").write_text(WATCHLIST, encoding="utf-8")
    yield config, port


def links_in(html_file: Path) -> dict[str, str]:
    text = html_file.read_text(encoding="utf-8")
    found = re.findall(r'<a href="([^"]+/feedback/[^"]+)"[^>]*>([^<]+)</a>', text)
    return {label: html.unescape(href) for href, label in found}


def labels(config: Path) -> list[dict[str, Any]]:
    return list(monitor_json(config, "feedback", "list", "--format", "json"))


def _heading(driver: Any) -> str:
    """The page's h1, or "" while the browser is between pages: the element read before the
    form's POST answered goes stale, which is not a failure of the page."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("tag name", "h1").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_a_not_relevant_link_is_confirmed_in_a_browser_and_stored_once(
    deployment: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = deployment
    driver = browser()
    started = time.monotonic()
    try:
        with running(monitor_command(config, "run"), tmp_path / "run.log") as daemon:
            folder = config.parent / "data" / "digests"
            page = wait_for(
                lambda: (
                    next(iter(sorted(folder.glob("*.html"))), None) if folder.is_dir() else None
                ),
                60,
                "the alert's HTML file",
                every=0.25,
            )
            links = links_in(page)
            assert set(links) == {"Relevant", "Not relevant"}, page.read_text("utf-8")
            not_relevant = links["Not relevant"]
            assert not_relevant.startswith(f"http://127.0.0.1:{port}/feedback/")
            assert (folder / page.name.replace(".html", ".txt")).read_text("utf-8").count(
                "/feedback/"
            ) == 2

            # A mail scanner's prefetch: a 200 page, nothing stored.
            prefetch = httpx.get(not_relevant, timeout=10)
            assert prefetch.status_code == 200 and "<script" not in prefetch.text
            assert 'method="post"' in prefetch.text
            assert labels(config) == []

            driver.get(not_relevant)
            assert "Mark as not relevant?" in driver.find_element("tag name", "h1").text
            assert "Turkey tests its S-400 radar" in driver.page_source
            driver.save_screenshot(str(tmp_path / "confirm.png"))
            driver.find_element("css selector", "form button").click()
            wait_for(lambda: _heading(driver) == "Recorded", 10, "the Recorded page")
            assert "recorded as not relevant" in driver.page_source

            [label] = labels(config)
            assert (label["watchlist"], label["label"], label["who"]) == (
                "s400",
                "irrelevant",
                "link",
            )
            assert label["title"] == "Turkey tests its S-400 radar"

            # The same link again: in the browser and as a replayed POST.
            driver.get(not_relevant)
            assert driver.find_element("tag name", "h1").text == "This link was used already"
            replay = httpx.post(not_relevant, timeout=10)
            assert replay.status_code == 410

            # A changed token: one character of its signature.
            base, token = not_relevant.rsplit("/", 1)
            swap = "A" if token[-5] != "A" else "B"
            tampered = f"{base}/{token[:-5]}{swap}{token[-4:]}"
            for response in (httpx.get(tampered, timeout=10), httpx.post(tampered, timeout=10)):
                assert response.status_code == 403
                assert "This link is not valid" in response.text

            # An expired token, genuinely signed: the "Relevant" label would be new.
            claim = FeedbackClaim(
                "s400",
                int(label["article_id"]),
                FeedbackLabel.RELEVANT,
                datetime.now(UTC) - timedelta(minutes=1),
                "expired-token-id",
            )
            expired = f"{base}/{mint_token(SECRET.encode(), claim)}"
            for response in (httpx.get(expired, timeout=10), httpx.post(expired, timeout=10)):
                assert response.status_code == 410
                assert "This link has expired" in response.text

            assert [lb["label"] for lb in labels(config)] == ["irrelevant"]
            history = run_monitor(config, "feedback", "export")
            assert history.returncode == 0, history.stderr
            assert '"irrelevant": ["s400"]' in history.stdout
            assert daemon.poll() is None
    finally:
        driver.quit()
    print(f"feedback e2e in {time.monotonic() - started:.1f} s")
