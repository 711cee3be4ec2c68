"""The email channel: one multipart (plain text + HTML) message per delivery over SMTP.

Connects only when it sends, with STARTTLS, implicit TLS or neither as configured, logs in
with the password from the environment variable named by `password_env` (read at send time),
and maps every smtplib, ssl and socket failure to DeliveryError (retry later) or
PermanentDeliveryError (a 5xx refusal, a certificate we do not trust, a server without the
security asked for). smtplib blocks, so it runs in a worker thread; its socket timeout bounds
every step. The Message-ID derives from the outbox row's idempotency key, so a repeated
delivery of one row carries the same Message-ID and mail clients can fold the copies.
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.render import render_html, render_text, subject
from monitor.config import EmailChannel
from monitor.core.redact import scrub, secret_forms
from monitor.errors import DeliveryError, PermanentDeliveryError

log = logging.getLogger(__name__)


def message_id(idempotency_key: str, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "monitor.invalid"
    return f"<{idempotency_key}@{domain}>"


def list_id(watchlist_id: str, watchlist_name: str, sender: str) -> str:
    """RFC 2919: "S-400 air defence system <s400.monitor.example.org>"."""
    domain = sender.rpartition("@")[2] or "monitor.invalid"
    label = re.sub(r"[^A-Za-z0-9-]", "-", watchlist_id).strip("-") or "watchlist"
    name = " ".join(watchlist_name.replace('"', "'").split())
    return f'"{name}" <{label}.monitor.{domain}>' if name else f"<{label}.monitor.{domain}>"


def build_email(config: EmailChannel, message: Outgoing, deps: SenderDeps) -> EmailMessage:
    content = message.content
    mail = EmailMessage()
    mail["Subject"] = subject(content)
    mail["From"] = (
        formataddr((config.sender_name, config.sender)) if config.sender_name else config.sender
    )
    mail["To"] = ", ".join(config.to)
    mail["Date"] = format_datetime(deps.clock())
    mail["Message-ID"] = message_id(message.idempotency_key, config.sender)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    # A mailing list in all but name: mail clients offer "unsubscribe", filters sort it by
    # List-Id (RFC 2919), and auto-responders stay quiet.
    mail["List-Id"] = list_id(content.watchlist_id, content.watchlist_name, config.sender)
    unsubscribe = config.unsubscribe or config.sender
    mail["List-Unsubscribe"] = (
        f"<mailto:{unsubscribe}?subject=unsubscribe%20{quote(content.watchlist_id)}>"
    )
    mail["Precedence"] = "bulk"
    mail["X-Monitor-Watchlist"] = content.watchlist_id
    mail["X-Monitor-Digest-Id"] = str(message.digest_id)
    mail.set_content(
        render_text(content, digest_id=message.digest_id), subtype="plain", charset="utf-8"
    )
    mail.add_alternative(
        render_html(content, digest_id=message.digest_id), subtype="html", charset="utf-8"
    )
    return mail


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}".strip()


def _by_code(code: int, message: str) -> DeliveryError:
    # SMTP: 4xx is "try again later", 5xx is "this will not work as it is".
    return PermanentDeliveryError(message) if code >= 500 else DeliveryError(message)


def map_smtp_error(exc: BaseException, config: EmailChannel, channel: str) -> DeliveryError:
    """One readable DeliveryError for anything smtplib, ssl or the socket raised."""
    where = f"channel {channel}: SMTP {config.host}:{config.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{rcpt} ({_reply(*reply)})" for rcpt, reply in exc.recipients.items())
        permanent = all(code >= 500 for code, _ in exc.recipients.values())
        text = f"{where} refused every recipient: {refused}"
        return PermanentDeliveryError(text) if permanent else DeliveryError(text)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return _by_code(
            exc.smtp_code,
            f"{where} refused the login as {config.username!r} ({reply}); "
            f"check username and the password in ${config.password_env}",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentDeliveryError(
            f"{where} does not support {exc.args[0] if exc.args else 'a required extension'}; "
            f'check security (now "{config.security}") and username'
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _by_code(
            exc.smtp_code,
            f"{where} refused the sender {config.sender} ({_reply(exc.smtp_code, exc.smtp_error)})",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"{where} closed the connection: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"{where} failed: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"{where}: its TLS certificate is not trusted "
            f"({getattr(exc, 'verify_message', None) or exc}); "
            f"fix the server's certificate or the host name"
        )
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(
            f"{where}: TLS failed ({getattr(exc, 'reason', None) or exc}); "
            f'check security (now "{config.security}") '
            f"and port"
        )
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"{where}: no answer within {config.timeout.total_seconds():g}s")
    if isinstance(exc, socket.gaierror):
        return DeliveryError(f"{where}: cannot resolve the host name ({exc.strerror})")
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryError(f"{where}: connection refused; is the mail server running?")
    if isinstance(exc, OSError):
        return DeliveryError(f"{where}: {exc.strerror or exc}")
    return DeliveryError(f"{where} failed: {type(exc).__name__}: {exc}")


class EmailSender:
    def __init__(self, name: str, config: EmailChannel, deps: SenderDeps) -> None:
        self.name = name
        self.config = config
        self.deps = deps

    def _password(self) -> str | None:
        if not self.config.username:
            return None
        assert self.config.password_env is not None  # the config validator guarantees it
        return self.deps.secret(self.name, "password_env", self.config.password_env)

    def _deliver(self, mail: EmailMessage, password: str | None) -> dict[str, tuple[int, bytes]]:
        config = self.config
        timeout = config.timeout.total_seconds()
        context = self.deps.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.username and password is not None:
                smtp.login(config.username, password)
            return smtp.send_message(mail)

    def _send_blocking(self, mail: EmailMessage, password: str | None) -> None:
        try:
            refused = self._deliver(mail, password)
        except Exception as exc:
            raise map_smtp_error(exc, self.config, self.name) from exc
        if refused:
            # The others got it: retrying would send them a second copy, so this counts as
            # delivered and the refusals go to the log, with the password masked.
            text = ", ".join(f"{rcpt} ({_reply(*reply)})" for rcpt, reply in refused.items())
            secrets = secret_forms(password, username=self.config.username) if password else ()
            log.warning(
                "some recipients were refused: %s",
                scrub(text, secrets),
                extra={"channel": self.name},
            )

    async def send(self, message: Outgoing) -> None:
        password = self._password()
        mail = build_email(self.config, message, self.deps)
        await asyncio.to_thread(self._send_blocking, mail, password)
