"""Reading articles and documents from files, for `monitor score` and `watchlists suggest`.

A .txt file is one article whose first line is the title; a .html page is one article (its
main text, via trafilatura); a .jsonl file holds one article per line with `title`, `summary`
and/or `content`, optional `id` and `url`. Must not score or decide anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.adapters.files.watchlists import display_path
from monitor.core.html_text import html_to_text
from monitor.core.suggest import Document
from monitor.errors import ParseError

ARTICLE_SUFFIXES = (".txt", ".html", ".htm", ".jsonl")


@dataclass(frozen=True, slots=True)
class ArticleInput:
    """One article to score: `id` is the input's id, else its path (and line)."""

    id: str
    title: str
    text: str
    url: str | None = None


def article_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The article files named, a folder standing for its article files in name order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in ARTICLE_SUFFIXES)
        else:
            yield path


def read_articles(path: Path) -> list[ArticleInput]:
    """The articles of one input file; ParseError says which file (and line) is wrong."""
    shown = display_path(path)
    suffix = path.suffix.lower()
    if suffix not in ARTICLE_SUFFIXES:
        raise ParseError(
            f"{shown}: cannot read {suffix or 'a file without suffix'}: "
            "give .txt, .html or .jsonl files"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{shown}: cannot read: {exc.strerror}") from None
    if suffix in (".html", ".htm"):
        return [_html_article(shown, raw.decode("utf-8", errors="replace"))]
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    if suffix == ".txt":
        return [_text_article(shown, text)]
    return list(_jsonl_articles(shown, text))


def _text_article(shown: str, text: str) -> ArticleInput:
    lines = text.strip().splitlines()
    title = lines[0].strip() if lines else ""
    return ArticleInput(shown, title, "\n".join(lines[1:]).strip())


def _html_article(shown: str, markup: str) -> ArticleInput:
    import trafilatura  # slow to import; only `monitor score page.html` needs it

    metadata = trafilatura.extract_metadata(markup)
    title = (metadata.title if metadata is not None else None) or ""
    text = trafilatura.extract(markup, include_comments=False) or html_to_text(markup)
    lines = text.strip().splitlines()
    # The page's headline usually opens the main text too; counting it there again would
    # count every title hit twice.
    if lines and title and lines[0].strip() == title.strip():
        lines = lines[1:]
    return ArticleInput(shown, title.strip(), "\n".join(lines).strip())


def _jsonl_articles(shown: str, text: str) -> Iterator[ArticleInput]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"{shown}:{number}: not a JSON object: {exc.msg}") from None
        if not isinstance(item, dict):
            raise ParseError(
                f"{shown}:{number}: must be a JSON object with title, summary and/or content"
            )
        fields = {key: item.get(key) for key in ("title", "summary", "content", "url")}
        for key, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise ParseError(f"{shown}:{number}: {key} must be a string")
        if not any(fields[key] for key in ("title", "summary", "content")):
            raise ParseError(f"{shown}:{number}: has no title, summary or content")
        summary = html_to_text(fields["summary"] or "")
        content = html_to_text(fields["content"] or "")
        # Feeds often repeat the summary as the content's first paragraph: keep it once.
        body = (
            content
            if summary and summary in content
            else "\n\n".join(part for part in (summary, content) if part)
        )
        article_id = str(item["id"]) if item.get("id") is not None else f"{shown}:{number}"
        yield ArticleInput(article_id, html_to_text(fields["title"] or ""), body, fields["url"])


def read_document(path: Path) -> Document:
    """A document for `watchlists suggest`: an HTML page's main text, or a text file."""
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{shown}: cannot read: {exc.strerror}") from None
    if path.suffix.lower() in (".html", ".htm"):
        article = _html_article(shown, raw.decode("utf-8", errors="replace"))
        return Document(path.name, f"{article.title}\n\n{article.text}")
    try:
        return Document(path.name, raw.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
