"""The file channel: three files per digest, written atomically, the same names on a retry."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.adapters.channels import build_sender
from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.db.schema import DigestKind
from monitor.config import FileChannel
from monitor.core.digest import DigestContent
from monitor.errors import DeliveryError, PermanentDeliveryError

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def message(digest_id: int = 12) -> Outgoing:
    content = DigestContent(DigestKind.DIGEST, "s400", "S-400", NOW, None, NOW, (), 0)
    return Outgoing(3, digest_id, "local", "monitor-k", content)


async def test_writes_html_text_and_json_and_overwrites_on_a_retry(tmp_path: Path) -> None:
    sender = build_sender(
        "local", FileChannel(type="file", path=Path("out/digests")), SenderDeps(base_dir=tmp_path)
    )
    await sender.send(message())
    await sender.send(message())  # a repeated delivery of the same row
    folder = tmp_path / "out" / "digests"
    names = sorted(p.name for p in folder.iterdir())
    stem = "s400-digest-12-20261121T070000Z"
    assert names == [f"{stem}.html", f"{stem}.json", f"{stem}.txt"]  # no temporary leftovers
    assert json.loads((folder / f"{stem}.json").read_text())["digest_id"] == 12
    assert "no new stories" in (folder / f"{stem}.txt").read_text()
    assert stat.S_IMODE((folder / f"{stem}.html").stat().st_mode) == 0o644


async def test_an_unwritable_folder_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    sender = build_sender("local", FileChannel(type="file", path=blocker), SenderDeps())
    with pytest.raises(DeliveryError, match="channel local: cannot write to"):
        await sender.send(message())


def test_a_relative_path_needs_the_config_folder() -> None:
    with pytest.raises(PermanentDeliveryError, match="relative"):
        build_sender("local", FileChannel(type="file", path=Path("digests")), SenderDeps())
