"""The email channel against a real aiosmtpd server speaking STARTTLS, and implicit TLS:
certificates are verified (a private CA via WASPADA_SMTP_CA_FILE), connections are pooled and
reused, and a server that drops a pooled connection costs a reconnect, not a lost email."""
from __future__ import annotations

import asyncio
import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller

from services.notifier.channels import DeliveryError, EmailChannel
from shared.settings import Settings, SmtpTls
from tests.harness import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[bool, bytes]] = []  # (over TLS, content)
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        over_tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.messages.append((over_tls, envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def _server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def _settings(port: int, mode: SmtpTls, ca_file=None) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls=mode, smtp_ca_file=ca_file,
                    mail_from="waspada@test.example", smtp_timeout_s=10, smtp_pool_size=2)


async def _send_many(channel: EmailChannel, count: int) -> None:
    await asyncio.gather(*(channel.send([f"desk{i}@agency.example"], f"Kasus RPT-{i:08d}", "Isi", f"al_{i}")
                           for i in range(count)))


@pytest.mark.parametrize("mode", [SmtpTls.starttls, SmtpTls.tls])
def test_email_over_verified_tls_with_pooled_connections(certificate, mode):
    inbox, port = Inbox(), free_port()
    context = _server_context(certificate)
    if mode == SmtpTls.starttls:
        controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    else:
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        async def scenario():
            channel = EmailChannel(_settings(port, mode, certificate[0]))
            try:
                await _send_many(channel, 10)
                return len(channel.pool._idle)
            finally:
                await channel.close()

        idle = asyncio.run(scenario())
        assert len(inbox.messages) == 10 and all(tls for tls, _ in inbox.messages)
        assert 1 <= idle <= 2, "connections are kept for reuse, at most the pool size"

        async def untrusted():  # the same server without trusting its CA: refused, and retried later
            channel = EmailChannel(_settings(port, mode))
            try:
                await channel.send(["desk@agency.example"], "Kasus", "Isi", "al_x")
            finally:
                await channel.close()

        with pytest.raises(DeliveryError) as refused:
            asyncio.run(untrusted())
        assert refused.value.transient
        assert len(inbox.messages) == 10
    finally:
        controller.stop()


def test_a_dropped_pooled_connection_is_replaced():
    inbox, port = Inbox(), free_port()
    controllers = [Controller(inbox, hostname="127.0.0.1", port=port)]
    controllers[0].start()
    try:
        async def scenario():
            channel = EmailChannel(_settings(port, SmtpTls.none))
            try:
                await channel.send(["a@agency.example"], "Kasus 1", "Isi", "al_1")
                controllers[0].stop()  # the server goes away and comes back: pooled connections are dead
                controllers.append(Controller(inbox, hostname="127.0.0.1", port=port))
                controllers[-1].start()
                try:  # a dead connection noticed in time is replaced before sending ...
                    await channel.send(["a@agency.example"], "Kasus 2", "Isi", "al_2")
                except DeliveryError as exc:  # ... else the send fails as transient and the retry reconnects
                    assert exc.transient
                    await channel.send(["a@agency.example"], "Kasus 2", "Isi", "al_2")
            finally:
                await channel.close()

        asyncio.run(scenario())
        assert len(inbox.messages) == 2
    finally:
        controllers[-1].stop()
