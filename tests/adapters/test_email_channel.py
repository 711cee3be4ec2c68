"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1): plain, STARTTLS and
implicit TLS with a certificate made for the test, AUTH, refusals and error mapping."""

from __future__ import annotations

import shutil
import smtplib
import socket
import ssl
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from delivery_fixtures import HOSTILE_TITLE, Mailbox, free_port, smtp_server
from fixed_time import NOW

from monitor.adapters.channels import build_sender
from monitor.adapters.channels.base import Outgoing, SenderDeps
from monitor.adapters.channels.email import map_smtp_error
from monitor.adapters.db.schema import DigestKind
from monitor.config import EmailChannel
from monitor.core.digest import DigestContent, DigestItem, Snippet
from monitor.errors import DeliveryError, PermanentDeliveryError

TO = ["desk@example.org", "analyst@example.org"]


def content(title: str = HOSTILE_TITLE) -> DigestContent:
    item = DigestItem(
        match_id=1,
        story_id=None,
        title=title,
        url="https://news.example.org/1",
        source="al-monitor",
        published_at=NOW - timedelta(hours=1),
        score=14.5,
        matched_terms=("S-400",),
        snippet=Snippet("<i>the</i> S-400 deal", ((11, 16),)),
        also_reported_by=("reuters",),
    )
    return DigestContent(
        DigestKind.DIGEST, "s400", "S-400 air defence system", NOW, None, NOW, (item,) * 7, 7
    )


def message(key: str = "monitor-abc123") -> Outgoing:
    return Outgoing(
        delivery_id=3, digest_id=9, channel="analysts", idempotency_key=key, content=content()
    )


def channel(port: int, **options: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "monitor@example.org",
        "to": TO,
        "timeout": "5s",
    }
    values.update(options)
    return EmailChannel.model_validate(values)


async def send(
    config: EmailChannel, deps: SenderDeps | None = None, key: str = "monitor-abc123"
) -> None:
    sender = build_sender("analysts", config, deps or SenderDeps(clock=lambda: NOW))
    await sender.send(message(key))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def test_the_message_arrives_with_both_parts_and_the_right_headers() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        await send(channel(port))
    (mail,) = mailbox.messages
    assert sorted(mailbox.envelopes[0].rcpt_tos) == sorted(TO)
    assert mailbox.envelopes[0].mail_from == "monitor@example.org"
    assert mail["Subject"] == "S-400 air defence system: 7 new stories"
    assert mail["From"] == "monitor@example.org"
    assert mail["To"] == "desk@example.org, analyst@example.org"
    assert mail["Message-ID"] == "<monitor-abc123@example.org>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"]
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    assert HOSTILE_TITLE in text
    assert "<script" not in markup and "<img" not in markup and "<i>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "S-400</mark>" in markup


async def test_a_repeated_delivery_carries_the_same_message_id() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        await send(channel(port))
        await send(channel(port))
        await send(channel(port), key="monitor-other")
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]


async def test_login_with_the_password_from_the_environment() -> None:
    mailbox = Mailbox()
    config = channel(1, username="monitor", password_env="TEST_SMTP_PASSWORD")
    with smtp_server(mailbox, users={"monitor": "s3cret"}) as port:
        config = config.model_copy(update={"port": port})
        await send(config, SenderDeps(environ={"TEST_SMTP_PASSWORD": "s3cret"}))
        assert len(mailbox.messages) == 1
        with pytest.raises(PermanentDeliveryError, match="refused the login as 'monitor'"):
            await send(config, SenderDeps(environ={"TEST_SMTP_PASSWORD": "wrong"}))
    assert len(mailbox.messages) == 1


async def test_a_missing_password_variable_is_named_and_nothing_connects() -> None:
    config = channel(free_port(), username="monitor", password_env="TEST_SMTP_PASSWORD")
    with pytest.raises(DeliveryError, match="TEST_SMTP_PASSWORD") as caught:
        await send(config, SenderDeps(environ={}))
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert "password_env" in str(caught.value)


async def test_starttls(certificate: tuple[Path, Path]) -> None:
    mailbox = Mailbox()
    options = {"tls_context": server_context(certificate), "require_starttls": True}
    with smtp_server(mailbox, users={"monitor": "pw"}, **options) as port:
        config = channel(port, security="starttls", username="monitor", password_env="PW")
        deps = SenderDeps(environ={"PW": "pw"}, ssl_context=client_context(certificate))
        await send(config, deps)
        assert len(mailbox.messages) == 1
        # Without trusting the test certificate the connection must fail, and say why.
        with pytest.raises(PermanentDeliveryError, match="certificate is not trusted"):
            await send(config, SenderDeps(environ={"PW": "pw"}))
        with pytest.raises(PermanentDeliveryError, match=r"(?i)starttls"):
            # A server that requires STARTTLS refuses a client that skips it.
            await send(channel(port, security="none"), deps)


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, ssl_context=server_context(certificate)) as port:
        await send(
            channel(port, security="tls"), SenderDeps(ssl_context=client_context(certificate))
        )
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [("550 5.1.1 no such user", PermanentDeliveryError), ("450 4.2.0 mailbox busy", DeliveryError)],
)
async def test_refused_recipients(reply: str, error: type[DeliveryError]) -> None:
    mailbox = Mailbox(refuse=dict.fromkeys(TO, reply))
    with (
        smtp_server(mailbox) as port,
        pytest.raises(error, match="refused every recipient") as caught,
    ):
        await send(channel(port))
    assert isinstance(caught.value, PermanentDeliveryError) is (error is PermanentDeliveryError)
    assert "desk@example.org" in str(caught.value)


async def test_one_refused_recipient_of_two_still_counts_as_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox = Mailbox(refuse={"analyst@example.org": "550 no such user"})
    with smtp_server(mailbox) as port:
        await send(channel(port))
    assert len(mailbox.messages) == 1
    assert "analyst@example.org" in caplog.text


async def test_no_server_is_a_retryable_error() -> None:
    with pytest.raises(DeliveryError, match="connection refused") as caught:
        await send(channel(free_port()))
    assert not isinstance(caught.value, PermanentDeliveryError)


def smtp_response(cls: type[smtplib.SMTPResponseException], code: int) -> Exception:
    return cls(code, b"reply text")


@pytest.mark.parametrize(
    ("exc", "permanent"),
    [
        pytest.param(smtplib.SMTPRecipientsRefused({"a@b": (550, b"no")}), True, id="rcpt-550"),
        pytest.param(smtplib.SMTPRecipientsRefused({"a@b": (451, b"later")}), False, id="rcpt-451"),
        pytest.param(smtp_response(smtplib.SMTPAuthenticationError, 535), True, id="auth-535"),
        pytest.param(smtp_response(smtplib.SMTPAuthenticationError, 454), False, id="auth-454"),
        pytest.param(smtplib.SMTPSenderRefused(553, b"no", "m@x"), True, id="sender-553"),
        pytest.param(smtp_response(smtplib.SMTPDataError, 554), True, id="data-554"),
        pytest.param(smtp_response(smtplib.SMTPDataError, 452), False, id="data-452"),
        pytest.param(smtp_response(smtplib.SMTPHeloError, 501), True, id="helo-501"),
        pytest.param(smtp_response(smtplib.SMTPConnectError, 421), False, id="connect-421"),
        pytest.param(smtplib.SMTPNotSupportedError("STARTTLS"), True, id="not-supported"),
        pytest.param(smtplib.SMTPServerDisconnected("gone"), False, id="disconnected"),
        pytest.param(smtplib.SMTPException("odd"), False, id="smtp-other"),
        pytest.param(ssl.SSLCertVerificationError("bad cert"), True, id="cert"),
        pytest.param(ssl.SSLError("handshake"), False, id="tls"),
        pytest.param(TimeoutError("timed out"), False, id="timeout"),
        pytest.param(socket.gaierror(-2, "Name or service not known"), False, id="dns"),
        pytest.param(ConnectionRefusedError(111, "refused"), False, id="refused"),
        pytest.param(ConnectionResetError(104, "reset"), False, id="reset"),
        pytest.param(OSError(101, "Network is unreachable"), False, id="oserror"),
        pytest.param(ValueError("odd"), False, id="anything-else"),
    ],
)
def test_every_failure_maps_to_a_delivery_error(exc: Exception, permanent: bool) -> None:
    error = map_smtp_error(exc, channel(25), "analysts")
    assert isinstance(error, DeliveryError)
    assert isinstance(error, PermanentDeliveryError) is permanent
    assert str(error).startswith("channel analysts: SMTP 127.0.0.1:25")
