"""SmtpMailer over TLS with credentials: STARTTLS and implicit TLS, against aiosmtpd.

The server's certificate is made for the test (for the IP 127.0.0.1) and the
mailer trusts exactly it, so certificate checking stays on.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from enotime.mail import Mail, MailError, SmtpMailer
from tests.integration.mail.conftest import HOST, Recorder, smtp_server

LOOPBACK = ipaddress.ip_address(HOST)
SENDER = "no-reply@enotime.example.com"
MAIL = Mail("alice@example.com", "Reset your password", "https://example.com/reset?t=s3cr3t")


@dataclass(frozen=True)
class Certificate:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "enotime test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return Certificate(server, client)


class Accounts:
    """An aiosmtpd authenticator that knows one user."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user.encode()
        self.password = password.encode()
        self.logins: list[bytes] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == self.user and auth_data.password == self.password
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


@pytest.fixture
def accounts() -> Accounts:
    return Accounts("mailer", "correct horse")


@pytest.fixture
def starttls_port(
    recorder: Recorder, certificate: Certificate, accounts: Accounts
) -> Iterator[int]:
    """A submission server: STARTTLS required, then AUTH required."""
    with smtp_server(
        recorder,
        tls_context=certificate.server,
        require_starttls=True,
        auth_required=True,
        authenticator=accounts,
    ) as controller:
        yield controller.port


@pytest.fixture
def implicit_tls_port(
    recorder: Recorder, certificate: Certificate, accounts: Accounts
) -> Iterator[int]:
    """A server speaking TLS from the first byte (as on port 465), AUTH required."""
    with smtp_server(
        recorder,
        ssl_context=certificate.server,
        auth_required=True,
        # aiosmtpd sees only STARTTLS as TLS; this connection is TLS from the start.
        auth_require_tls=False,
        authenticator=accounts,
    ) as controller:
        yield controller.port


def trusting_mailer(
    port: int,
    certificate: Certificate,
    *,
    password: str = "correct horse",
    starttls: bool = False,
    use_tls: bool = False,
) -> SmtpMailer:
    """A mailer logging in as ``mailer`` over TLS that trusts exactly the test's certificate."""
    return SmtpMailer(
        HOST,
        port,
        SENDER,
        username="mailer",
        password=password,
        starttls=starttls,
        use_tls=use_tls,
        tls_context=certificate.client,
        timeout=5.0,
    )


async def test_starttls_then_login_then_delivery(
    starttls_port: int, certificate: Certificate, accounts: Accounts, recorder: Recorder
) -> None:
    mailer = trusting_mailer(starttls_port, certificate, starttls=True)

    await mailer.send(MAIL)

    received = await recorder.next()
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Subject"] == "Reset your password"
    assert accounts.logins == [b"mailer"]


# aiosmtpd cannot tell that an implicit-TLS connection is encrypted, hence its warning.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_then_login_then_delivery(
    implicit_tls_port: int, certificate: Certificate, accounts: Accounts, recorder: Recorder
) -> None:
    mailer = trusting_mailer(implicit_tls_port, certificate, use_tls=True)

    await mailer.send(MAIL)

    assert (await recorder.next()).message["To"] == "alice@example.com"


async def test_a_wrong_password_is_a_permanent_mail_error(
    starttls_port: int, certificate: Certificate
) -> None:
    mailer = trusting_mailer(starttls_port, certificate, password="wrong", starttls=True)

    with pytest.raises(MailError) as caught:
        await mailer.send(MAIL)

    assert not caught.value.transient
    assert caught.value.code == 535


async def test_a_certificate_the_mailer_does_not_trust_is_refused(starttls_port: int) -> None:
    mailer = SmtpMailer(
        HOST, starttls_port, SENDER, username="mailer", password="correct horse", starttls=True
    )  # the system's trust store: the test's certificate is not in it

    with pytest.raises(MailError, match="certificate"):
        await mailer.send(MAIL)
