"""`monitor db upgrade`: apply pending migrations."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.app import upgrade
from monitor.cli.common import settings_from


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database maintenance")
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = commands.add_parser(
        "upgrade", help="apply pending migrations (run and poll do it too)"
    )
    upgrade.set_defaults(func=upgrade_command)


def upgrade_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    before, after, where = upgrade(settings)
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")
    return 0
