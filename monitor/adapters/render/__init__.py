"""Turning a frozen digest into what each channel sends: text, HTML, and webhook JSON bodies.

Holds the Jinja2 environment (templates in monitor/templates, autoescaped for HTML), the
email subject, the generic versioned JSON payload and the Slack, Discord and Microsoft Teams
message formats. Pure rendering: no network, no clock, no database. Feed text is untrusted
everywhere: HTML escapes it (snippets are escaped first, then the hits are wrapped in <mark>),
and the chat formats escape their markup characters so a title cannot ping a channel or
forge a link.
"""

from monitor.adapters.render.payloads import (
    SCHEMA,
    WEBHOOK_FORMATS,
    discord_payload,
    json_payload,
    slack_payload,
    teams_payload,
    webhook_payload,
)
from monitor.adapters.render.templates import (
    environment,
    render_feedback_page,
    render_html,
    render_text,
)
from monitor.adapters.render.text import safe_href, subject, utc_iso

__all__ = [
    "SCHEMA",
    "WEBHOOK_FORMATS",
    "discord_payload",
    "environment",
    "json_payload",
    "render_feedback_page",
    "render_html",
    "render_text",
    "safe_href",
    "slack_payload",
    "subject",
    "teams_payload",
    "utc_iso",
    "webhook_payload",
]
