"""The confidential client can prove itself with a certificate instead of a secret."""

from __future__ import annotations

import datetime

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from authflow import flows
from sandbox.models import Application


def make_certificate(path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lifeboat-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(key_pem + cert_pem)
    return cert_pem


@pytest.fixture
def certificate_only(sandbox, settings, tmp_path):
    pem_path = tmp_path / "lifeboat-app.pem"
    cert_pem = make_certificate(pem_path)
    app = Application.objects.get(client_id=sandbox.confidential_client_id)
    app.certificates = [cert_pem]
    app.client_secret_hashes = []
    app.save()
    settings.MICROSOFT_CLIENT_SECRET = None
    settings.MICROSOFT_CLIENT_CERTIFICATE_PATH = str(pem_path)
    flows._app_only.clear()
    yield
    flows._app_only.clear()


def test_app_only_tokens_with_a_certificate(sandbox, certificate_only):
    token = flows.app_only_token(sandbox.tenant_id)
    assert "Mail.ReadWrite" in jwt.decode(token, options={"verify_signature": False})["roles"]


def test_a_certificate_the_app_does_not_know_is_refused(sandbox, certificate_only):
    Application.objects.filter(client_id=sandbox.confidential_client_id).update(certificates=[])
    with pytest.raises(flows.FlowError) as refused:
        flows.app_only_token(sandbox.tenant_id)
    assert refused.value.error == "invalid_client"


def test_browser_sign_in_with_a_certificate(sandbox, certificate_only, live_server):
    from tests.authflow.test_browser_sign_in import authorize_as, post_back

    browser, page = authorize_as(sandbox, live_server, "alice")
    landed = post_back(browser, page)
    assert landed.url == f"{live_server.url}/auth/profile"
