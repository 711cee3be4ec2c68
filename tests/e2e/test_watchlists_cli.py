"""`monitor watchlists check|suggest` and `monitor score`, run in-process through their handlers."""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from pathlib import Path

import pytest

from monitor.adapters.files.articles import read_articles
from monitor.adapters.files.watchlists import load_watchlists
from monitor.cli import score, watchlists
from monitor.errors import ConfigError, InputError, ParseError

REPO = Path(__file__).resolve().parents[2]
GOOD = 'name = "S-400"\nthreshold = 4.0\nchannels = ["local"]\n[[terms]]\nmatch = "S-400"\nweight = 5\n'


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Parse like `monitor` does, with only these command modules registered."""
    parser = argparse.ArgumentParser(prog="monitor")
    parser.add_argument("--config")
    commands = parser.add_subparsers(dest="command", required=True)
    watchlists.register(commands)
    score.register(commands)
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[watchlists]\ndir = "lists"\n[channels.local]\ntype = "file"\npath = "digests"\n',
        encoding="utf-8",
    )
    (tmp_path / "lists").mkdir()
    return path


def test_check_valid_folder_from_config(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config.parent / "lists" / "s400.toml").write_text(GOOD, encoding="utf-8")
    code, out, _ = run(["--config", str(config), "watchlists", "check"], capsys)
    assert code == 0
    assert out.splitlines()[-1] == "1 valid, 0 invalid"


def test_check_reports_every_problem_of_every_file(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config.parent)
    lists = config.parent / "lists"
    (lists / "s400.toml").write_text(GOOD, encoding="utf-8")
    (lists / "broken.toml").write_text(
        'name = "x"\nthreshold = 2\nchannels = ["analysts"]\n[[terms]]\nmatch = "A"\n'
        'weight = "high"\nexclude = ["Benz"]\n',
        encoding="utf-8",
    )
    (lists / "syntax.toml").write_text('name = "x"\nthreshold = = 2\n', encoding="utf-8")
    code, out, _ = run(["--config", str(config), "watchlists", "check"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert "lists/s400.toml: ok (1 term, threshold 4, schedule '@daily' UTC)" in lines
    assert (
        'lists/broken.toml: channels[0]: unknown channel "analysts"; channels defined in '
        "config.toml: local (line 3)" in lines
    )
    assert (
        'lists/broken.toml: terms[0].weight: must be a positive number, got "high" (line 6)'
        in lines
    )
    assert any(
        line.startswith(
            'lists/broken.toml: terms[0].exclude: unknown key "exclude": '
            '"exclude" is a top-level key'
        )
        for line in lines
    )
    assert "lists/syntax.toml: line 2, column 13: invalid TOML: Invalid value" in lines
    assert lines[-1] == "1 valid, 2 invalid, 4 problems"


def test_check_named_paths_without_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD.replace('["local"]', '["anything"]'), encoding="utf-8")
    missing_config = str(tmp_path / "missing.toml")
    code, _out, err = run(["--config", missing_config, "watchlists", "check", str(good)], capsys)
    assert code == 0
    assert "channels and feeds are not checked" in err
    # A path that does not exist is a mistyped argument (exit 2), not an invalid watchlist.
    with pytest.raises(InputError, match=r"nope.toml: no such file or folder"):
        run(
            [
                "--config",
                missing_config,
                "watchlists",
                "check",
                str(good),
                str(tmp_path / "nope.toml"),
            ],
            capsys,
        )


def test_loading_a_folder_keeps_the_good_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.toml").write_text("threshold = 1\n", encoding="utf-8")
    (tmp_path / "c.toml").write_bytes(b"name = '\xff'\n")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    loaded = load_watchlists(tmp_path, known_channels={"local"})
    assert [w.id for w in loaded.watchlists] == ["a"]
    assert sorted(Path(p).name for p in loaded.problems) == ["b.toml", "c.toml"]
    assert any("not UTF-8 text" in p for ps in loaded.problems.values() for p in ps)
    assert load_watchlists(tmp_path / "none").problems


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "s400.toml").write_text(
        'name = "S-400"\nthreshold = 4.0\nalert_threshold = 8.0\nexclude = ["Mercedes*"]\n'
        '[[terms]]\nmatch = "S-400"\nweight = 5\n',
        encoding="utf-8",
    )
    (folder / "idlib.toml").write_text(
        'name = "Idlib"\nthreshold = 3.0\n[[terms]]\nmatch = "Idlib"\nweight = 3\n',
        encoding="utf-8",
    )
    return folder


def test_score_json_lines(lists: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    articles = tmp_path / "a.jsonl"
    articles.write_text(
        json.dumps({"id": "x1", "title": "S-400 arrives", "summary": "<p>The S400 in İdlib’de</p>"})
        + "\n\n"
        + json.dumps({"title": "Mercedes S400", "content": "S 400 d"})
        + "\n",
        encoding="utf-8",
    )
    code, out, _ = run(
        ["score", str(articles), "--watchlist-dir", str(lists), "--format", "json"], capsys
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["article"], r["watchlist"]) for r in rows] == [
        ("x1", "idlib"),
        ("x1", "s400"),
        (f"{articles}:3", "idlib"),
        (f"{articles}:3", "s400"),
    ]
    first = rows[1]
    assert list(first)[:7] == [
        "article",
        "watchlist",
        "score",
        "matched",
        "alert",
        "vetoed_by",
        "terms",
    ]
    assert (first["score"], first["matched"], first["alert"], first["vetoed_by"]) == (
        9.375,
        True,
        True,
        None,
    )
    assert first["terms"] == [
        {
            "term": "S-400",
            "title_count": 1,
            "body_count": 1,
            "contribution": 9.375,
            "snippets": ["**S-400** arrives", "The **S400** in İdlib’de"],
        }
    ]
    assert rows[0]["matched"] and rows[0]["terms"][0]["snippets"] == ["The S400 in **İdlib**’de"]
    assert rows[3]["vetoed_by"] == "Mercedes*" and not rows[3]["matched"]


def test_score_text_for_people(
    lists: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    article = tmp_path / "story.txt"
    article.write_text(
        "Second batch of S-400s\n\nTurkey wants more S-400 systems.\n", encoding="utf-8"
    )
    code, out, _ = run(
        ["score", str(article), "--watchlist-dir", str(lists), "--watchlist", "s400"], capsys
    )
    assert code == 0
    assert out.splitlines()[:4] == [
        f"{article}: Second batch of S-400s",
        "  s400: 9.375 (threshold 4, alert 8): MATCH, ALERT",
        "    S-400: +9.375 (title 1, body 1)",
        "      Second batch of **S-400**s",
    ]


def test_score_unknown_watchlist(
    lists: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(
        ConfigError, match="unknown or invalid watchlist 'nope'; valid: idlib, s400"
    ):
        run(["score", str(tmp_path), "--watchlist-dir", str(lists), "--watchlist", "nope"], capsys)


def test_score_reports_bad_input_and_goes_on(
    lists: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "S-400"}\nnot json\n', encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text("S-400\n", encoding="utf-8")
    code, out, err = run(
        ["score", str(bad), str(good), "--watchlist-dir", str(lists), "--format", "json"], capsys
    )
    assert code == 2  # the input must be fixed; the good file was still scored
    assert "bad.jsonl:2: not a JSON object" in err
    assert len(out.splitlines()) == 2  # the good file, both watchlists


def test_reading_html_uses_the_main_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Erdogan meets Putin in Sochi</title></head><body>"
        "<nav>Home | World | S-400 Mercedes deals</nav><article><h1>Erdogan meets Putin in Sochi</h1>"
        "<p>Turkish President Recep Tayyip Erdogan met Russian President Vladimir Putin in the "
        "Black Sea resort of Sochi on Wednesday to discuss Idlib and energy cooperation.</p>"
        "<p>The two leaders talked for nearly three hours at the Bocharov Ruchei residence, "
        "officials in Ankara said afterwards.</p></article><footer>Copyright</footer></body></html>",
        encoding="utf-8",
    )
    [article] = read_articles(page)
    assert article.title == "Erdogan meets Putin in Sochi"
    assert article.text.startswith("Turkish President Recep Tayyip Erdogan met")
    assert "Mercedes" not in article.text and "Copyright" not in article.text


def test_reading_rejects_unknown_suffixes(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF")
    with pytest.raises(ParseError, match=r"give \.txt, \.html or \.jsonl files"):
        read_articles(path)


def test_suggest_prints_toml_that_check_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = sorted((REPO / "seeds").glob("*.txt"))[:2]
    config = tmp_path / "config.toml"
    config.write_text(
        '[watchlists]\ndir = "watchlists"\n\n[channels.local]\ntype = "file"\npath = "digests"\n',
        encoding="utf-8",
    )
    (tmp_path / "watchlists").mkdir()
    arguments = ["watchlists", "suggest", *map(str, seeds), "--id", "draft", "--max-terms", "12"]
    code, out, _ = run(["--config", str(config), *arguments], capsys)
    assert code == 0
    # The draft delivers to the config's channels: `channels = []` would never deliver.
    assert 'channels = ["local"]' in out.splitlines()
    # The documents are its examples, relative to the folder the draft is saved in.
    assert tomllib.loads(out)["examples"] == [
        os.path.relpath(seed, tmp_path / "watchlists") for seed in seeds
    ]
    draft = tmp_path / "watchlists" / "draft.toml"
    draft.write_text(out, encoding="utf-8")
    code, out, _ = run(["--config", str(config), "watchlists", "check", str(draft)], capsys)
    assert (code, out.splitlines()[-1]) == (0, "1 valid, 0 invalid")


def test_check_fails_a_valid_watchlist_that_can_never_deliver(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config.parent)
    (config.parent / "lists" / "s400.toml").write_text(
        GOOD.replace("threshold = 4.0", "threshold = 11"), encoding="utf-8"
    )
    code, out, _ = run(["--config", str(config), "watchlists", "check"], capsys)
    assert code == 1
    assert (
        "lists/s400.toml: threshold: is 11, above the highest score this watchlist can reach "
        "(10: each term adds at most twice its weight); no article can ever match: lower the "
        "threshold to at most 10 or raise the weights (line 2)" in out.splitlines()
    )
    assert out.splitlines()[-1] == "1 valid, 0 invalid, 1 problem"


def test_a_shipped_watchlist_copied_out_to_edit_still_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, "Editing a watchlist safely": `cp watchlists/idlib.toml /tmp/idlib.toml`, edit,
    `monitor watchlists check /tmp/idlib.toml`. Its examples are relative to the watchlist
    folder, where it will be saved again; a copy elsewhere must not fail on them, while an
    example that exists in neither place is still reported."""
    config = REPO / "config.toml"
    draft = tmp_path / "idlib.toml"
    draft.write_text((REPO / "watchlists" / "idlib.toml").read_text(encoding="utf-8"))
    code, out, _ = run(["--config", str(config), "watchlists", "check", str(draft)], capsys)
    assert (code, out.splitlines()[-1]) == (0, "1 valid, 0 invalid"), out
    draft.write_text(
        draft.read_text(encoding="utf-8").replace(
            "examples = [", 'examples = ["nowhere/*.txt", ', 1
        )
    )
    code, out, _ = run(["--config", str(config), "watchlists", "check", str(draft)], capsys)
    assert code == 1 and '"nowhere/*.txt" matches no file' in out, out
