"""The Jinja2 environment (templates in monitor/templates, autoescaped for HTML) and the
plain-text and HTML renderings of a digest, for email and the file channel."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.adapters.render.text import (
    marked_html,
    marked_text,
    one_line,
    safe_href,
    score_text,
    subject,
    when,
)
from monitor.core.digest import DigestContent


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        when=when,
        score=score_text,
        oneline=one_line,
        href=safe_href,
        marked_html=marked_html,
        marked_text=marked_text,
    )
    return env


def render_text(content: DigestContent, *, digest_id: int | None = None) -> str:
    """The plain-text form; with the stored digest's id, "and N more" names the command that
    lists every story of it."""
    template = environment().get_template("digest.txt")
    return template.render(content=content, heading=subject(content), digest_id=digest_id)


def render_html(content: DigestContent, *, digest_id: int | None = None) -> str:
    template = environment().get_template("digest.html")
    return template.render(content=content, heading=subject(content), digest_id=digest_id)


def render_feedback_page(
    heading: str,
    message: str,
    *,
    article_title: str | None = None,
    article_url: str | None = None,
    button: str | None = None,
    watchlist: str | None = None,
    refused: bool = False,
) -> str:
    """A page of a one-click feedback link (confirm, recorded or refused)."""
    article = None if article_title is None else {"title": article_title, "url": article_url}
    return (
        environment()
        .get_template("feedback.html")
        .render(
            heading=heading,
            message=message,
            article=article,
            button=button,
            watchlist=watchlist,
            accent="#b42318" if refused else "#1f4e79",
        )
    )
