"""`monitor feedback`: label an article relevant or not for a watchlist, list the labels in
force, export them as an evaluation set for `monitor score`.

One command with three forms, as the README writes them:
`feedback URL|ARTICLE_ID --watchlist ID relevant|irrelevant [--note TEXT]`,
`feedback list [...]` and `feedback export [...]`. argparse subcommands cannot fall back to a
positional argument, so the first word is read here and the options checked per form.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, TextIO

from monitor.app import utc_now
from monitor.cli.articles import check_names
from monitor.cli.common import add_format, database_from, duration_arg, since_time
from monitor.cli.output import plural, print_json, print_json_line, print_table
from monitor.core.states import FeedbackLabel
from monitor.flows.feedback import export_labels, list_labels, record_cli_label

LABELS = [label.value for label in FeedbackLabel]
TABLE_COLUMNS = ["labelled_at", "watchlist", "label", "article_id", "title", "who", "note"]
USAGE = (
    "monitor feedback URL|ARTICLE_ID --watchlist ID relevant|irrelevant [--note TEXT]\n"
    "       monitor feedback list [--watchlist ID] [--since DURATION] [--format table|json]\n"
    "       monitor feedback export [--watchlist ID]"
)


class _IntermixedParser(argparse.ArgumentParser):
    """Reads positionals wherever they stand: `feedback 12 --watchlist s400 irrelevant` puts
    the label after an option, which plain argparse reports as an unrecognized argument
    (it matches the optional label to nothing when it meets `--watchlist`)."""

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:  # parse_known_intermixed_args calls back into this
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def register(subparsers: Any) -> None:
    feedback = subparsers.add_parser(
        "feedback",
        usage=USAGE,
        help="label articles relevant or not, list the labels, export them for `monitor score`",
        description="Label a stored article for a watchlist (the label speaks for its whole "
        "story; the newest label wins, every label is kept), list the labels in force, or "
        "export the labelled articles as JSON Lines that `monitor score` reads.",
    )
    feedback.add_argument(
        "subject", metavar="URL|ARTICLE_ID|list|export", help="the article, or list / export"
    )
    feedback.add_argument("label", nargs="?", metavar="relevant|irrelevant", help="the label")
    feedback.add_argument(
        "--watchlist", metavar="ID", help="the watchlist labelled (list, export: only its labels)"
    )
    feedback.add_argument("--note", metavar="TEXT", help="why, in a few words (labelling only)")
    feedback.add_argument(
        "--since",
        type=duration_arg,
        metavar="DURATION",
        help='list: only labels given within this long, e.g. "30d"',
    )
    add_format(feedback)
    # The subparsers action made a plain parser; only this command needs intermixed reading.
    feedback.__class__ = _IntermixedParser
    feedback.set_defaults(func=feedback_command, feedback_parser=feedback)


def feedback_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    parser: argparse.ArgumentParser = args.feedback_parser
    given = {
        option
        for option, value in (
            ("--note", args.note),
            ("--since", args.since),
            ("--format", args.format if args.format != "table" else None),
            ("a label", args.label),
        )
        if value is not None
    }
    form = args.subject if args.subject in ("list", "export") else "label"
    allowed = {"list": {"--since", "--format"}, "export": set(), "label": {"--note", "a label"}}
    wrong = sorted(given - allowed[form])
    if wrong:
        what = "feedback list" if form == "list" else f"feedback {form}"
        if form == "label":
            what = "labelling an article"
        parser.error(f"{', '.join(wrong)}: not used when {what}; see `monitor feedback --help`")
    if form == "label":
        if args.label is None or args.watchlist is None:
            parser.error(
                "give --watchlist ID and relevant or irrelevant, e.g. "
                "`monitor feedback 123 --watchlist s400 irrelevant`"
            )
        if args.label not in LABELS:
            parser.error(f"label {args.label!r}: use relevant or irrelevant")
    settings, engine = database_from(args)
    try:
        check_names(settings, engine, feed=None, watchlist=args.watchlist)
        if form == "list":
            rows = [
                row.as_dict()
                for row in list_labels(
                    engine, watchlist_id=args.watchlist, since=since_time(args.since)
                )
            ]
            if args.format == "json":
                print_json(rows, out)
            else:
                print_table(rows, TABLE_COLUMNS, title=plural(len(rows), "label"), stream=out)
            return 0
        if form == "export":
            for line in export_labels(engine, watchlist_id=args.watchlist):
                print_json_line(line, out)
            return 0
        label, article = record_cli_label(
            engine,
            args.subject,
            watchlist_id=args.watchlist,
            label=FeedbackLabel(args.label),
            who=_who(),
            note=args.note,
            now=utc_now(),
        )
    finally:
        engine.dispose()
    scope = f"story {label.story_id}" if label.story_id is not None else "the article"
    print(
        f"recorded: article {label.article_id} ({article.title or 'no title'}) is "
        f"{label.label} for {label.watchlist_id}; the label stands for {scope}",
        file=out,
    )
    return 0


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"
