"""The file channel: writes each digest as .html, .txt and .json into a folder.

Writes are atomic (a temporary file in the same folder, then a rename), and the names depend
only on the digest, so a repeated delivery overwrites the same three files instead of adding
copies. Must not do anything but write those files.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from pathlib import Path

from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.render import json_payload, render_html, render_text
from monitor.config import FileChannel
from monitor.errors import DeliveryError, PermanentDeliveryError


def digest_file_stem(message: Outgoing) -> str:
    """`<watchlist>-<kind>-<digest id>-<UTC time>`: sortable by time within a watchlist."""
    content = message.content
    watchlist = re.sub(r"[^\w.-]+", "_", content.watchlist_id)
    stamp = content.generated_at.strftime("%Y%m%dT%H%M%SZ")
    return f"{watchlist}-{content.kind.value}-{message.digest_id}-{stamp}"


def write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; digests are for reading
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FileSender:
    def __init__(self, name: str, config: FileChannel, deps: SenderDeps) -> None:
        self.name = name
        if config.path.is_absolute():
            self.folder = config.path
        elif deps.base_dir is not None:
            self.folder = deps.base_dir / config.path
        else:
            raise PermanentDeliveryError(
                f"channel {name}: path {config.path} is relative and there is no config "
                f"folder to resolve it against"
            )

    def _write(self, message: Outgoing) -> None:
        stem = digest_file_stem(message)
        body = json.dumps(
            json_payload(message.digest_id, message.content), ensure_ascii=False, indent=2
        )
        # Files have no size limit: the text and HTML list every story, max_items or not;
        # the JSON is the webhook payload, as receivers and scripts know it.
        every_story = message.content.complete()
        files = {
            ".json": body + "\n",
            ".txt": render_text(every_story, digest_id=message.digest_id),
            ".html": render_html(every_story, digest_id=message.digest_id),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for suffix, text in files.items():
                write_atomically(self.folder / (stem + suffix), text)
        except OSError as exc:
            raise DeliveryError(
                f"channel {self.name}: cannot write to {self.folder}: {exc.strerror or exc}"
            ) from None

    async def send(self, message: Outgoing) -> None:
        await asyncio.to_thread(self._write, message)
