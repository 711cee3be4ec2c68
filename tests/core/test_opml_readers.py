"""OPML from the readers people leave (Feedly, Inoreader, FreshRSS, Miniflux), written by hand
from their documented export formats, and what monitor makes of them: tags both ways, names
(non-Latin ones too), URL validation, collisions, depth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from monitor.cli import main
from monitor.core.opml import (
    MAX_DEPTH,
    OPMLError,
    OPMLFeed,
    plan_import,
    read_opml,
    slug,
    write_opml,
)

CREATED = datetime(2026, 12, 1, tzinfo=UTC)

# Feedly: OPML 1.0, one folder level, title and text both set, htmlUrl beside xmlUrl.
FEEDLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Analyst subscriptions in feedly Cloud</title></head>
  <body>
    <outline text="Turkey" title="Turkey">
      <outline type="rss" text="Duvar English" title="Duvar English"
               xmlUrl="https://www.duvarenglish.com/rss" htmlUrl="https://www.duvarenglish.com"/>
      <outline type="rss" text="H\xc3\xbcrriyet Daily News" title="H\xc3\xbcrriyet Daily News"
               xmlUrl="https://www.hurriyetdailynews.com/rss" htmlUrl="https://www.hurriyetdailynews.com"/>
    </outline>
    <outline text="Defence" title="Defence">
      <outline type="rss" text="Defense News" title="Defense News"
               xmlUrl="https://www.defensenews.com/arc/outboundfeeds/rss/"/>
    </outline>
  </body>
</opml>"""

# Inoreader: OPML 1.0, its title in the head, the same feed in two folders, a Cyrillic title.
INOREADER = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions of analyst from Inoreader [https://www.inoreader.com]</title></head>
  <body>
    <outline text="Russia" title="Russia">
      <outline text="ТАСС" title="ТАСС" type="rss" xmlUrl="https://tass.ru/rss/v2.xml" htmlUrl="https://tass.ru"/>
      <outline text="РИА Новости" title="РИА Новости" type="rss" xmlUrl="https://ria.ru/export/rss2/archive/index.xml"/>
    </outline>
    <outline text="Middle East" title="Middle East">
      <outline text="الجزيرة" title="الجزيرة" type="rss" xmlUrl="https://www.aljazeera.net/aljazeerarss/a7c186be-1baa-4bd4-9d80-a84db769f779/73d0e1b4-532f-45ef-b135-bfdff8b8cab9"/>
    </outline>
  </body>
</opml>""".encode()

# FreshRSS: OPML 2.0 with its own namespace and attributes, a date in the head.
FRESHRSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0" xmlns:frss="https://freshrss.org/opml">
  <head><title>FreshRSS</title><dateCreated>Tue, 01 Dec 2026 07:00:00 +0000</dateCreated></head>
  <body>
    <outline text="Uncategorized">
      <outline text="War on the Rocks" type="rss" xmlUrl="https://warontherocks.com/feed/"
               htmlUrl="https://warontherocks.com/" description="National security"
               frss:cssFullContent="article" frss:priority="main"/>
    </outline>
    <outline text="Sanctions">
      <outline text="State Department" type="rss" xmlUrl="https://www.state.gov/rss-feed/press-releases/feed/"
               htmlUrl="https://www.state.gov"/>
    </outline>
  </body>
</opml>"""

# Miniflux: OPML 2.0, every feed in a category (the default one is "All"), title and text.
MINIFLUX = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Miniflux</title><dateCreated>Tue, 01 Dec 2026 07:00:00 UTC</dateCreated></head>
  <body>
    <outline text="All">
      <outline title="Al-Monitor" text="Al-Monitor" xmlUrl="https://www.al-monitor.com/rss" htmlUrl="https://www.al-monitor.com"></outline>
    </outline>
    <outline text="Idlib">
      <outline title="Middle East Eye" text="Middle East Eye" xmlUrl="https://www.middleeasteye.net/rss" htmlUrl="https://www.middleeasteye.net"></outline>
    </outline>
  </body>
</opml>"""

EXPECTED = {
    "feedly": [
        OPMLFeed("duvar-english", "https://www.duvarenglish.com/rss", ("turkey",)),
        OPMLFeed("hurriyet-daily-news", "https://www.hurriyetdailynews.com/rss", ("turkey",)),
        OPMLFeed(
            "defense-news", "https://www.defensenews.com/arc/outboundfeeds/rss/", ("defence",)
        ),
    ],
    "inoreader": [
        OPMLFeed("тасс", "https://tass.ru/rss/v2.xml", ("russia",)),
        OPMLFeed("риа-новости", "https://ria.ru/export/rss2/archive/index.xml", ("russia",)),
        OPMLFeed(
            "الجزيرة",
            "https://www.aljazeera.net/aljazeerarss/a7c186be-1baa-4bd4-9d80-a84db769f779/73d0e1b4-532f-45ef-b135-bfdff8b8cab9",
            ("middle-east",),
        ),
    ],
    "freshrss": [
        OPMLFeed("war-on-the-rocks", "https://warontherocks.com/feed/", ("uncategorized",)),
        OPMLFeed(
            "state-department",
            "https://www.state.gov/rss-feed/press-releases/feed/",
            ("sanctions",),
        ),
    ],
    "miniflux": [
        OPMLFeed("al-monitor", "https://www.al-monitor.com/rss", ("all",)),
        OPMLFeed("middle-east-eye", "https://www.middleeasteye.net/rss", ("idlib",)),
    ],
}
EXPORTS = {"feedly": FEEDLY, "inoreader": INOREADER, "freshrss": FRESHRSS, "miniflux": MINIFLUX}


@pytest.mark.parametrize("reader", list(EXPORTS))
def test_a_readers_export_reads_with_names_and_tags(reader: str) -> None:
    document = read_opml(EXPORTS[reader])
    assert document.feeds == EXPECTED[reader]
    assert document.rejected == []


@pytest.mark.parametrize("reader", list(EXPORTS))
def test_a_readers_export_round_trips_through_ours(reader: str) -> None:
    feeds = read_opml(EXPORTS[reader]).feeds
    again = read_opml(write_opml(feeds, title="monitor feeds", created=CREATED).encode()).feeds
    assert again == feeds


def test_tags_survive_export_and_import_both_ways() -> None:
    feeds = [
        OPMLFeed("a", "https://a.example/rss", ("turkey", "defence", "s400")),
        OPMLFeed("b", "https://b.example/rss", ("defence",)),
        OPMLFeed("c", "https://c.example/rss"),
    ]
    text = write_opml(feeds, title="t", created=CREATED)
    assert 'category="turkey,defence,s400"' in text  # OPML 2.0's own attribute
    assert '<outline text="turkey" title="turkey">' in text  # and a folder readers show
    assert read_opml(text.encode()).feeds == feeds


def test_category_paths_and_folders_are_both_tags() -> None:
    data = b"""<opml version="2.0"><body><outline text="News">
      <outline text="x" xmlUrl="https://x.example/rss" category="/Turkey/Defence,S-400"/>
    </outline></body></opml>"""
    (feed,) = read_opml(data).feeds
    assert feed.tags == ("news", "turkey", "defence", "s-400")


def test_attribute_names_in_any_case() -> None:
    data = b"""<opml version="1.0"><body>
      <outline TEXT="Lower" xmlurl="https://lower.example/rss"/>
      <outline text="Upper" XMLURL="https://upper.example/rss"/>
    </body></opml>"""
    assert [(f.name, f.url) for f in read_opml(data).feeds] == [
        ("lower", "https://lower.example/rss"),
        ("upper", "https://upper.example/rss"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/xml,<rss/>",
        "gopher://example.org/1",
        "ftp://example.org/feed.xml",
        "https://",
        "http://exa mple.org/feed",
    ],
)
def test_only_http_feed_urls_are_imported(url: str) -> None:
    data = f'<opml version="2.0"><body><outline text="bad" xmlUrl={quoteattr(url)}/></body></opml>'
    document = read_opml(data.encode())
    assert document.feeds == []
    assert document.rejected and "is not an http(s) feed URL" in document.rejected[0]


def test_export_leaves_out_urls_config_would_reject() -> None:
    feeds = [OPMLFeed("ok", "https://ok.example/rss"), OPMLFeed("js", "javascript:alert(1)")]
    text = write_opml(feeds, title="t", created=CREATED)
    assert "javascript" not in text
    assert [f.name for f in read_opml(text.encode()).feeds] == ["ok"]


@pytest.mark.parametrize(
    "title, name",
    [
        ("Hürriyet Daily News", "hurriyet-daily-news"),
        ("İncirlik Üssü", "incirlik-ussu"),
        ("Çavuşoğlu's blog", "cavusoglu-s-blog"),
        ("Новости", "новости"),
        ("الجزيرة نت", "الجزيرة-نت"),
        ("  ***  ", "host.example"),  # nothing usable: the URL's host
    ],
)
def test_names_fold_like_watchlists_and_keep_other_scripts(title: str, name: str) -> None:
    data = f'<opml version="2.0"><body><outline text="{title}" xmlUrl="https://host.example/rss"/></body></opml>'
    assert read_opml(data.encode()).feeds[0].name == name
    assert slug(name) == name  # a derived name is stable


def test_names_are_unique_within_a_file() -> None:
    data = b"""<opml version="2.0"><body>
      <outline text="Same" xmlUrl="https://one.example/rss"/>
      <outline text="Same" xmlUrl="https://two.example/rss"/>
    </body></opml>"""
    assert [f.name for f in read_opml(data).feeds] == ["same", "same-2"]


def test_a_taken_name_with_another_url_is_renamed_not_skipped() -> None:
    found = [
        OPMLFeed("al-monitor", "https://mirror.example/al-monitor"),
        OPMLFeed("dw", "https://dw.example/rss"),
    ]
    plan = plan_import(
        found,
        names={"al-monitor", "dw"},
        urls={"https://www.al-monitor.com/rss", "https://dw.example/rss"},
    )
    assert plan.add == [OPMLFeed("al-monitor-2", "https://mirror.example/al-monitor")]
    assert plan.renamed == {"al-monitor": "al-monitor-2"}
    assert [f.name for f in plan.present] == ["dw"]


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    depth = 5000
    data = (
        '<opml version="2.0"><body>'
        + '<outline text="f">' * depth
        + '<outline text="x" xmlUrl="https://x.example/rss"/>'
        + "</outline>" * depth
        + "</body></opml>"
    )
    with pytest.raises(OPMLError, match=f"nested deeper than {MAX_DEPTH} levels"):
        read_opml(data.encode())


def test_nesting_within_the_limit_reads() -> None:
    depth = MAX_DEPTH - 1
    data = (
        '<opml version="2.0"><body>'
        + "".join(f'<outline text="f{i}">' for i in range(depth))
        + '<outline text="x" xmlUrl="https://x.example/rss"/>'
        + "</outline>" * depth
        + "</body></opml>"
    )
    (feed,) = read_opml(data.encode()).feeds
    assert len(feed.tags) == depth


def test_entities_are_refused() -> None:
    data = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
      <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
      <opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example/rss"/></body></opml>"""
    with pytest.raises(OPMLError, match="refused"):
        read_opml(data)


def test_cli_import_renames_reports_refusals_and_exports_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/m.db"\n'
        '[[feeds]]\nname = "al-monitor"\nurl = "https://configured.example/rss"\ntags = ["turkey"]\n',
        encoding="utf-8",
    )
    opml = tmp_path / "miniflux.opml"
    opml.write_bytes(
        MINIFLUX.replace(b"</body>", b'<outline text="js" xmlUrl="javascript:x"/></body>')
    )
    assert main(["--config", str(config), "feeds", "import", str(opml)]) == 0
    out = capsys.readouterr().out
    assert "3 feeds found, 2 added, 0 already present, 1 refused" in out
    assert "+ al-monitor-2 [all] (renamed from 'al-monitor': that name is taken)" in out
    assert "! js: 'javascript:x' is not an http(s) feed URL" in out
    assert main(["--config", str(config), "feeds", "import", str(opml)]) == 0
    assert "0 added, 2 already present, 1 refused" in capsys.readouterr().out

    assert main(["--config", str(config), "feeds", "export"]) == 0
    exported = {f.name: f for f in read_opml(capsys.readouterr().out.encode()).feeds}
    assert exported["al-monitor"].tags == ("turkey",)
    assert exported["al-monitor-2"].tags == ("all",)
    assert exported["middle-east-eye"].tags == ("idlib",)

    assert main(["--config", str(config), "feeds", "list", "--format", "json"]) == 0
    listed = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert listed["middle-east-eye"]["tags"] == ["idlib"]
