"""The transactional outbox under SIGKILL: `monitor poll --once` and `monitor run` are killed at
random points while they poll a feed that keeps bringing strong matches, with a real SMTP
server and a real webhook receiver on loopback. At the end every match above
`alert_threshold` has been alerted exactly once per channel (one Message-ID per alert by
email, one webhook id per alert as received), and every digest and alert was delivered.

Before the alert's outbox rows were created in the transaction that stores the match, a kill
between that commit and the alert step lost the alert (the match waited for the digest).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from delivery_fixtures import Mailbox, WebhookReceiver, hook_id, smtp_server, wait_until
from loopback import FeedServer, Route
from sqlalchemy import create_engine, select

from monitor.adapters.db.schema import Delivery, Digest, Match

pytestmark = pytest.mark.slow

KILLS = 30  # processes killed while still running, the bar
MOST_ROUNDS = 45  # a run that finished before its kill does not count
ITEMS_PER_ROUND = 2
SYLLABLES = ("ka", "lo", "mir", "tes", "van", "dor", "pel", "ski", "ru", "zan", "gor", "bet")


def rss(items: list[tuple[int, str, str]]) -> bytes:
    body = "".join(
        f"<item><guid>wire-{n}</guid><title>{title}</title>"
        f"<link>https://wire.example.org/news/{n}</link><description>{text}</description>"
        f"<pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate></item>"
        for n, title, text in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://wire.example.org/</link>{body}</channel></rss>"
    ).encode()


def story(rng: random.Random, n: int) -> tuple[int, str, str]:
    # Distinct words per item, so every item is a story of its own and gets its own alert.
    words = ["".join(rng.choices(SYLLABLES, k=4)) for _ in range(30)]
    title = f"S-400 report {n}: {' '.join(words[:4])}"
    text = f"Turkey and the S-400 (item {n}): " + " ".join(words) + f" code{n}x{rng.random()}"
    return n, title, text


def weak_story(rng: random.Random, n: int) -> tuple[int, str, str]:
    words = ["".join(rng.choices(SYLLABLES, k=4)) for _ in range(30)]
    return 10_000 + n, f"Incirlik note {n}", "At Incirlik: " + " ".join(words)


def command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--config", str(config), *args]


def environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOOK_SECRET": "whsec_" + "a2V5" * 8}
    env.pop("MONITOR_DATABASE_URL", None)
    return env


def test_alerts_survive_random_kills_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(12)
    mailbox = Mailbox()
    # The receiver is slow, so kills land while sends are in flight as well as before them.
    with (
        FeedServer() as feeds,
        WebhookReceiver(delay=0.05) as hook,
        smtp_server(mailbox) as smtp_port,
    ):
        items: list[tuple[int, str, str]] = []
        route = Route(rss(items))
        feed_url = feeds.add("/wire.xml", route)
        # Slow outlets keep the cycle going after the wire's transaction has committed: the
        # window in which a kill used to lose the alert.
        slow = [
            feeds.add(f"/slow-{n}.xml", Route(rss([]), delay=1.5, last_modified=None))
            for n in range(3)
        ]
        (tmp_path / "watchlists").mkdir()
        (tmp_path / "watchlists" / "s400.toml").write_text(
            'name = "S-400"\nthreshold = 1.0\nalert_threshold = 5.0\n'
            'max_alerts_per_hour = 1000\nschedule = "* * * * *"\ntimezone = "UTC"\n'
            'channels = ["hook", "mail"]\n\n[[terms]]\nmatch = "S-400"\nweight = 6.0\n'
            '\n[[terms]]\nmatch = "Incirlik"\nweight = 2.0\n'
        )
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path}/monitor.db"\n'
            '[polling]\ninterval = "1s"\nparse_processes = 0\ntimeout = "5s"\nlease = "2s"\n'
            '[server]\nlisten = ""\n'
            # A short outbox lease: a killed run's claimed rows go out again after 6 s, not
            # the default minute beyond the timeouts (which made this test take 5 minutes).
            '[delivery]\nbase_delay = "1s"\nmax_delay = "1s"\nmax_attempts = 50\ntimeout = "5s"\n'
            'lease = "6s"\n'
            f'[[feeds]]\nname = "wire"\nurl = "{feed_url}"\n'
            + "".join(f'[[feeds]]\nname = "slow-{n}"\nurl = "{u}"\n' for n, u in enumerate(slow))
            + f'[channels.hook]\ntype = "webhook"\nurl = "{hook.url}"\nsecret_env = "HOOK_SECRET"\n'
            'timeout = "5s"\n'
            f'[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp_port}\n'
            'security = "none"\nsender = "monitor@example.org"\nto = ["desk@example.org"]\n'
            'timeout = "5s"\n'
        )
        env = environment()
        upgraded = subprocess.run(
            command(config, "db", "upgrade"), env=env, capture_output=True, timeout=60
        )
        assert upgraded.returncode == 0, upgraded.stderr
        # How long one whole `poll --once` takes here (start-up is most of it): kills are
        # spread over that span, so they land before, during and after the feed's commit.
        started = time.monotonic()
        calibrate = subprocess.run(
            command(config, "poll", "--once", "--all"), env=env, capture_output=True, timeout=120
        )
        assert calibrate.returncode == 0, calibrate.stderr
        whole = time.monotonic() - started
        number = 0
        killed = 0
        rounds_started = time.monotonic()
        for round_ in range(MOST_ROUNDS):
            if killed >= KILLS:
                break
            for _ in range(ITEMS_PER_ROUND):
                number += 1
                items.append(story(rng, number))
            # Below alert_threshold: it waits for the digest.
            items.append(weak_story(rng, round_))
            route.body = rss(items)
            daemon = round_ % 3 == 2
            args = ("run",) if daemon else ("poll", "--once", "--all")
            process = subprocess.Popen(
                command(config, *args),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.35 * whole, (1.4 if daemon else 0.97) * whole))
            if process.poll() is None:
                killed += 1
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert killed >= KILLS, f"only {killed} runs were still going when killed"
        recovery_started = time.monotonic()
        # Recovery: runs left alone. A row a killed run claimed waits for its lease to expire
        # (`[delivery] lease`, 6 s here) before another run may send it: the receivers
        # then drop it by its id if the killed run had got it through.
        engine = create_engine(f"sqlite:///{tmp_path}/monitor.db")

        def pending() -> int:
            deliveries = Delivery.__table__
            with engine.connect() as connection:
                rows = connection.execute(select(deliveries.c.status)).scalars().all()
            return sum(1 for status in rows if status != "delivered")

        finish = command(config, "poll", "--once", "--all")
        first = subprocess.run(finish, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        # A digest of what is left (the weak matches of the last rounds).
        sent = subprocess.run(
            command(config, "digest", "send", "s400"), env=env, capture_output=True, timeout=60
        )
        assert sent.returncode in (0, 1), sent.stderr
        deadline = time.monotonic() + 150
        while True:
            done = subprocess.run(finish, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            if not pending() or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert wait_until(lambda: len(mailbox.messages) > 0)
        recovered = time.monotonic()

    matches, digests, deliveries = Match.__table__, Digest.__table__, Delivery.__table__
    with engine.connect() as connection:
        strong = connection.execute(
            select(matches.c.id, matches.c.alert_digest_id).where(matches.c.score >= 5.0)
        ).all()
        alert_rows = connection.execute(
            select(digests.c.id).where(digests.c.kind == "alert")
        ).scalars()
        alerts = set(alert_rows)
        outbox = connection.execute(
            select(
                deliveries.c.digest_id,
                deliveries.c.channel,
                deliveries.c.status,
                deliveries.c.idempotency_key,
            )
        ).all()
    engine.dispose()

    assert len(strong) == number, "every item was stored and matched"
    digest_ids = {r.digest_id for r in outbox} - alerts
    assert digest_ids, "at least one digest was made and sent"
    assert all(m.alert_digest_id is not None for m in strong), "a strong match lost its alert"
    assert {m.alert_digest_id for m in strong} == alerts and len(alerts) == number
    assert {r.status for r in outbox} == {"delivered"}, "every digest and alert is delivered"
    per_alert = defaultdict(set)
    for row in outbox:
        per_alert[row.digest_id].add(row.channel)
    assert all(per_alert[a] == {"hook", "mail"} for a in alerts)

    # Webhooks as received: one accepted request per alert, under its outbox row's id.
    keys = {r.idempotency_key: r.digest_id for r in outbox if r.channel == "hook"}
    accepted = [r for r in hook.accepted if r.json()["kind"] == "alert"]
    accepted_ids = [hook_id(r.headers) for r in accepted]
    assert len(accepted_ids) == len(set(accepted_ids)) == number
    assert {keys[i] for i in accepted_ids} == alerts
    # Email: at most one message per Message-ID, and one Message-ID per alert.
    by_id: dict[str, int] = defaultdict(int)
    for message in mailbox.messages:
        by_id[str(message["Message-ID"])] += 1
    email_rows = [r for r in outbox if r.channel == "mail"]
    assert len(by_id) == len(email_rows)
    alert_subjects = [m for m in mailbox.messages if "S-400 report" in str(m["Subject"])]
    titles = defaultdict(set)
    for message in alert_subjects:
        titles[str(message["Subject"])].add(str(message["Message-ID"]))
    assert all(len(ids) == 1 for ids in titles.values()), "an alert was emailed twice"
    print(
        f"one poll --once: {whole:.1f} s; kills {recovery_started - rounds_started:.0f} s, "
        f"recovery {recovered - recovery_started:.0f} s; {round_} rounds, {killed} kills, {number} strong matches, {len(digest_ids)} digests sent, {len(hook.requests)} webhook requests "
        f"({len(hook.accepted)} accepted), {len(mailbox.messages)} emails "
        f"({len(by_id)} Message-IDs)"
    )
