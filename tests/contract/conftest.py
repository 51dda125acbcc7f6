"""The contract suite: the portal's sign-in code against an identity provider it does not
write — panva's oidc-provider (OpenID Certified), installed from npm with the pinned
tests/contract/provider/package-lock.json — started here on localhost over TLS.

The provider's certificate comes from a throwaway CA made for the run; the portal gets
that CA only through MICROSOFT_CA_BUNDLE (while REQUESTS_CA_BUNDLE names a bundle without
it, to prove the setting wins). The provider's issuer is https://login.contract.test/
<tenant>/v2.0; MICROSOFT_ROUTES sends that host to the provider's port, and every other
endpoint comes from its discovery document. Device codes are polled by the real poller
in a real Celery worker started with the same configuration (the sandbox's worker is
paused meanwhile, since both would poll the one test database).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import certifi
import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.cache import cache

from authflow import flows
from tests.conftest import WorkerProcess

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
TENANT_ID = "7c0e2a4b-3d1f-4e5a-9b8c-0d1e2f3a4b5c"
CLIENT_ID = "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
PUBLIC_CLIENT_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
CLIENT_SECRET = "contract-test-secret-0123456789abcdef"
AUTHORITY_HOST = "login.contract.test"
GRAPH_RESOURCE = "https://graph.contract.test"
API_RESOURCE = f"api://{CLIENT_ID}"
ACCOUNTS = {
    "alice": {
        "oid": "a11ce000-0000-4000-8000-00000000a11c",
        "name": "Alice Contract",
        "preferred_username": "alice@contract.test",
    },
    "bob": {
        "oid": "b0b00000-0000-4000-8000-000000000b0b",
        "name": "Bob Contract",
        "preferred_username": "bob@contract.test",
    },
}
DEVICE_CODE_TTL = 600


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(
            "CONTRACT SUITE SKIPPED: node and npm are not installed, so the independent "
            "OpenID provider (oidc-provider from npm) cannot run. Install Node.js 20+ and npm."
        )
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, timeout=600
        )
    return node


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TLS:
    """A throwaway CA and a certificate it signed for localhost."""

    def __init__(self, directory: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lifeboat contract CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.cert_file = directory / "cert.pem"
        self.key_file = directory / "key.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def signing_jwk(kid: str) -> tuple[dict, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
    jwk.pop("key_ops", None)  # oidc-provider selects keys by `use`
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}, key


class ContractProvider:
    """oidc-provider in a node process; stop() and start() keep its state (a file)."""

    def __init__(self, node: str, directory: Path, tls: TLS, portal_url: str) -> None:
        self.node = node
        self.directory = directory
        self.port = _free_port()
        self.url = f"https://localhost:{self.port}"
        self.issuer = f"https://{AUTHORITY_HOST}/{TENANT_ID}/v2.0"
        self.poll_log = directory / "polls.jsonl"
        self.kid = "contract-key-1"
        jwk, self.private_key = signing_jwk(self.kid)
        self.config_file = directory / "config.json"
        self.config_file.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "issuer": self.issuer,
                    "tenantId": TENANT_ID,
                    "certFile": str(tls.cert_file),
                    "keyFile": str(tls.key_file),
                    "stateFile": str(directory / "state.json"),
                    "pollLog": str(self.poll_log),
                    "interval": 5,
                    "deviceCodeTtl": DEVICE_CODE_TTL,
                    "accessTokenTtl": 3600,
                    "jwks": {"keys": [jwk]},
                    "cookieKeys": [uuid.uuid4().hex],
                    "accounts": ACCOUNTS,
                    "graphResource": GRAPH_RESOURCE,
                    "graphScopes": flows_scopes(),
                    "apiResource": API_RESOURCE,
                    "apiScopes": ["access_as_user"],
                    "clients": [
                        {
                            "client_id": PUBLIC_CLIENT_ID,
                            "token_endpoint_auth_method": "none",
                            "grant_types": [
                                "urn:ietf:params:oauth:grant-type:device_code",
                                "refresh_token",
                            ],
                            "response_types": [],
                            "redirect_uris": [],
                        },
                        {
                            "client_id": CLIENT_ID,
                            "client_secret": CLIENT_SECRET,
                            "token_endpoint_auth_method": "client_secret_post",
                            "grant_types": ["authorization_code", "refresh_token"],
                            "response_types": ["code"],
                            "redirect_uris": [f"{portal_url}/auth/callback"],
                        },
                    ],
                }
            )
        )
        self.ca_file = tls.ca_file
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = directory / "provider.log"

    def start(self) -> None:
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [self.node, str(PROVIDER_DIR / "server.mjs"), str(self.config_file)],
            cwd=PROVIDER_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self.log_file.read_text()[-2000:]}")
            try:
                self.discovery()
                return
            except requests.RequestException as exc:
                last = exc
                time.sleep(0.2)
        raise RuntimeError(f"oidc-provider did not come up: {last}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def polls(self) -> list[dict]:
        if not self.poll_log.exists():
            return []
        return [json.loads(line) for line in self.poll_log.read_text().splitlines() if line]

    def discovery(self) -> dict:
        return requests.get(
            f"{self.url}/{TENANT_ID}/v2.0/.well-known/openid-configuration",
            verify=str(self.ca_file),
            timeout=5,
        ).json()


def flows_scopes() -> list[str]:
    from authflow import signins

    return signins.sign_in_scopes()


def portal_environment(provider: ContractProvider) -> dict[str, str]:
    """The portal's configuration for this provider, as environment variables."""
    return {
        "MICROSOFT_TENANT_ID": TENANT_ID,
        "MICROSOFT_ALLOWED_TENANT_IDS": TENANT_ID,
        "MICROSOFT_CLIENT_ID": CLIENT_ID,
        "MICROSOFT_PUBLIC_CLIENT_ID": PUBLIC_CLIENT_ID,
        "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
        "MICROSOFT_AUTHORITY_HOST": AUTHORITY_HOST,
        "MICROSOFT_GRAPH_URL": f"{GRAPH_RESOURCE}/v1.0",
        "MICROSOFT_ROUTES": f"{AUTHORITY_HOST}={provider.url}",
        "MICROSOFT_CA_BUNDLE": str(provider.ca_file),
        # oidc-provider keeps offline_access (so a refresh token) only with prompt=consent
        # (OpenID Connect Core §11); the setting asks for it.
        "MICROSOFT_PROMPT": "consent",
        "SANDBOX_ENABLED": "true",
        # A bundle without the contract CA: MICROSOFT_CA_BUNDLE must win over it.
        "REQUESTS_CA_BUNDLE": certifi.where(),
        "CURL_CA_BUNDLE": certifi.where(),
    }


@pytest.fixture(scope="session")
def contract_tls(tmp_path_factory) -> TLS:
    return TLS(tmp_path_factory.mktemp("contract-tls"))


@pytest.fixture(scope="session")
def contract_provider(live_server, contract_tls, tmp_path_factory) -> Iterator[ContractProvider]:
    node = _node()
    provider = ContractProvider(
        node, tmp_path_factory.mktemp("contract-provider"), contract_tls, live_server.url
    )
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def contract_worker(
    session_workers_paused, subprocess_env, contract_provider, tmp_path_factory
) -> Iterator[WorkerProcess]:
    """A Celery worker configured for the contract provider; the sandbox's worker (if the
    session started one) is paused meanwhile, so only this one polls sign-ins."""
    worker = WorkerProcess(
        {**subprocess_env, **portal_environment(contract_provider)},
        tmp_path_factory.mktemp("contract-celery") / "worker.log",
    )
    worker.start()
    yield worker
    worker.stop()


class Contract:
    def __init__(self, provider: ContractProvider) -> None:
        self.provider = provider
        self.tenant_id = TENANT_ID
        self.client_id = CLIENT_ID
        self.public_client_id = PUBLIC_CLIENT_ID
        self.api_resource = API_RESOURCE

    def identity(self, alias: str) -> str:
        return f"{ACCOUNTS[alias]['oid']}.{TENANT_ID}"

    def upn(self, alias: str) -> str:
        return ACCOUNTS[alias]["preferred_username"]


@pytest.fixture
def contract(settings, contract_provider, live_server, monkeypatch) -> Contract:
    """This process configured as the contract worker is (see portal_environment)."""
    env = portal_environment(contract_provider)
    settings.PORTAL_URL = live_server.url
    settings.MICROSOFT_TENANT_ID = TENANT_ID
    settings.MICROSOFT_ALLOWED_TENANT_IDS = [TENANT_ID]
    settings.MICROSOFT_CLIENT_ID = CLIENT_ID
    settings.MICROSOFT_PUBLIC_CLIENT_ID = PUBLIC_CLIENT_ID
    settings.MICROSOFT_CLIENT_SECRET = CLIENT_SECRET
    settings.MICROSOFT_CLIENT_CERTIFICATE_PATH = None
    settings.MICROSOFT_AUTHORITY_HOST = AUTHORITY_HOST
    settings.MICROSOFT_AUTHORITY_KIND = "custom"
    settings.MICROSOFT_ISSUER_HOSTS = [AUTHORITY_HOST]
    settings.MICROSOFT_GRAPH_URL = f"{GRAPH_RESOURCE}/v1.0"
    settings.MICROSOFT_GRAPH_RESOURCE = GRAPH_RESOURCE
    settings.MICROSOFT_ROUTES = {AUTHORITY_HOST: contract_provider.url}
    settings.MICROSOFT_CA_BUNDLE = env["MICROSOFT_CA_BUNDLE"]
    settings.MICROSOFT_PROMPT = env["MICROSOFT_PROMPT"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"])
    monkeypatch.setenv("CURL_CA_BUNDLE", env["CURL_CA_BUNDLE"])
    cache.clear()
    flows._app_only.clear()
    return Contract(contract_provider)
