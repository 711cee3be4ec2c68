"""compact storage: story signatures keep the low 16 bits of each min-hash (issue 16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A signature was 256 little-endian uint32s (1,024 bytes, a quarter of an article row on
SQLite); it is now their low 16 bits as uint16s (512 bytes), which decide every labelled
pair as the full values did (core/dedup.py). The stored values are cut, not recomputed: the
result is exactly what the new code stores for the same article, so stories keep being
found across the upgrade. The schema does not change, only the bytes in the column.

The space freed inside a SQLite file is reused by the next articles; `VACUUM` gives it back
to the file system at once (README, "Performance").
"""

from __future__ import annotations

import array
import sys
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000  # rows read and rewritten at a time: a few MB in memory whatever the table holds
_FULL_BYTES = 256 * 4
_COMPACT_BYTES = 256 * 2

_articles = sa.table(
    "articles",
    sa.column("id", sa.Integer()),
    sa.column("title", sa.Text()),
    sa.column("text", sa.Text()),
    sa.column("signature", sa.LargeBinary()),
)


def _compact(full: bytes) -> bytes:
    # The low 16 bits of each little-endian uint32 (core.dedup.signature_to_bytes).
    # The stdlib, not numpy: the db adapter wraps only its database libraries.
    values = array.array("I", full)
    if sys.byteorder == "big":
        values.byteswap()
    low = array.array("H", (v & 0xFFFF for v in values))
    if sys.byteorder == "big":
        low.byteswap()
    return low.tobytes()


def upgrade() -> None:
    _rewrite(_FULL_BYTES, lambda row: _compact(row.signature))


def downgrade() -> None:
    # The high bits are gone: the older release's 32-bit values are made again from the text
    # (the same MinHash). A pruned article has no text, so no signature: it is then found by
    # URL and content hash only, as a row without one always was.
    from monitor.core import dedup

    def full(row: Any) -> bytes | None:
        if row.text is None:
            return None
        return dedup.minhash(row.title, row.text).astype("<u4").tobytes()

    _rewrite(_COMPACT_BYTES, full)


def _rewrite(old_size: int, convert: Callable[[Any], bytes | None]) -> None:
    """Every signature of `old_size` bytes replaced by `convert(row)`, in id order, a batch
    at a time (keyset pagination: each batch starts after the last id of the previous)."""
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(_articles.c.id, _articles.c.title, _articles.c.text, _articles.c.signature)
            .where(_articles.c.id > after)
            .where(sa.func.length(_articles.c.signature) == old_size)
            .order_by(_articles.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(_articles)
            .where(_articles.c.id == sa.bindparam("row_id"))
            .values(signature=sa.bindparam("new_signature")),
            [{"row_id": row.id, "new_signature": convert(row)} for row in rows],
        )
        after = rows[-1].id
