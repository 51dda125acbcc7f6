"""A tenant's OpenID Provider configuration, fetched, validated and cached.

Every issuer and endpoint the portal trusts comes from here, never from a host name the
portal assembles: `https://<authority host>/<tenant>/v2.0/.well-known/openid-configuration`
(the form msal reads too). The document is validated as OpenID Connect Discovery 1.0
says (§3 required fields, §4.3 the issuer must be the URL it was fetched from), with
the variations Microsoft documents for Entra (docs/clouds.md):

- the issuer's host may be one of the cloud's issuer hosts (MICROSOFT_ISSUER_HOSTS):
  Azure China's tokens name login.partner.microsoftonline.cn, not its authority host;
- a tenant asked for by domain name gets an issuer with the tenant's GUID, and the
  multi-tenant aliases (`organizations`, `common`) the template `{tenantid}`, which a
  token's `tid` fills in.

A document that is missing, malformed or names another issuer refuses sign-in with a
reason an administrator can act on; nothing falls back to an issuer built by hand.
Documents are cached for a day and refetched when a token names a key the cached key
set lacks (key rollover).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache

from portal.microsoft import TLSFailure, authority_url, http_session

logger = logging.getLogger(__name__)

TTL_SECONDS = 24 * 3600
ALIASES = frozenset({"common", "organizations", "consumers"})
TEMPLATE = "{tenantid}"
# OpenID Connect Discovery 1.0 §3: REQUIRED provider metadata (token_endpoint is
# required unless only the implicit flow is used, which the portal never does).
REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
_ISSUER_PATH = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/?$")


class DiscoveryError(Exception):
    """The tenant's discovery document is missing, malformed or not trustworthy.
    The message says what is wrong and what to check; it is safe to show admins."""


class DiscoveryUnavailable(DiscoveryError):
    """The document could not be fetched right now (network, 5xx): try again later."""


@dataclass(frozen=True)
class Configuration:
    tenant: str  # as asked for: a GUID, a domain, or an alias
    issuer: str  # may hold {tenantid} (Entra's multi-tenant documents)
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    device_authorization_endpoint: str | None
    prompt_values_supported: tuple[str, ...] | None
    # Entra's name of the cloud the tenant lives in ("microsoftonline.com", ".us", …).
    cloud_instance_name: str | None = None

    def issuer_for(self, tid: str) -> str:
        """The issuer a token of tenant `tid` must carry."""
        return self.issuer.replace(TEMPLATE, tid)

    @property
    def tenant_id(self) -> str | None:
        """The tenant's GUID as its issuer names it (None for a multi-tenant document)."""
        match = _ISSUER_PATH.match(urlsplit(self.issuer).path)
        try:
            return str(uuid.UUID(match["tenant"])) if match else None
        except ValueError:
            return None


def document_url(tenant: str) -> str:
    return f"{authority_url(tenant)}/v2.0/.well-known/openid-configuration"


def _cache_key(tenant: str) -> str:
    # v2: Configuration gained cloud_instance_name; older pickles are not read back.
    return f"authflow:oidc:v2:{settings.MICROSOFT_AUTHORITY_HOST}:{tenant.lower()}"


def configuration(tenant: str, *, refresh: bool = False) -> Configuration:
    """The validated configuration of `tenant` (cached). Raises DiscoveryError."""
    key = _cache_key(tenant)
    if not refresh and (cached := cache.get(key)) is not None:
        return cached
    found = validate(fetch(tenant), tenant)
    cache.set(key, found, TTL_SECONDS)
    return found


def fetch(tenant: str) -> Any:
    url = document_url(tenant)
    try:
        with http_session() as session:
            response = session.get(url)
    except TLSFailure as exc:
        raise DiscoveryError(str(exc)) from exc
    except requests.RequestException as exc:
        logger.warning("Discovery document %s unreachable: %s", url, type(exc).__name__)
        raise DiscoveryUnavailable(
            f"The sign-in service at {urlsplit(url).hostname} could not be reached "
            f"({type(exc).__name__})."
        ) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise DiscoveryUnavailable(
            f"The sign-in service at {urlsplit(url).hostname} answered "
            f"{response.status_code} for the discovery document; try again later."
        )
    if response.status_code != 200:
        raise DiscoveryError(
            f"{url} answered {response.status_code}: there is no OpenID configuration for "
            f"tenant {tenant} there. Check MICROSOFT_CLOUD (or MICROSOFT_AUTHORITY_HOST) and "
            "the tenant id."
        )
    try:
        return response.json()
    except ValueError:
        raise DiscoveryError(f"{url} did not answer with JSON (the discovery document).") from None


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _https_url(value: Any) -> bool:
    """An https URL, or http on the loopback interface (RFC 8252 §8.3: a browser on this
    machine, as in the demo)."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    if parts.scheme == "http":
        return parts.hostname in LOOPBACK
    return parts.scheme == "https" and bool(parts.hostname)


def validate(document: Any, tenant: str) -> Configuration:
    """Check a discovery document fetched for `tenant`; raise DiscoveryError if unfit."""
    url = document_url(tenant)
    if not isinstance(document, dict):
        raise DiscoveryError(f"The discovery document at {url} is not a JSON object.")
    missing = [name for name in REQUIRED if not document.get(name)]
    if missing:
        raise DiscoveryError(
            f"The discovery document at {url} lacks {', '.join(missing)} (required by "
            "OpenID Connect Discovery)."
        )
    bad = [name for name in ENDPOINTS if not _https_url(document[name])]
    device = document.get("device_authorization_endpoint")
    if device is not None and not _https_url(device):
        bad.append("device_authorization_endpoint")
    if bad:
        raise DiscoveryError(
            f"The discovery document at {url} has {', '.join(bad)} that are not https URLs "
            "(http only on the loopback interface)."
        )
    issuer = document["issuer"]
    problem = issuer_problem(issuer, tenant)
    if problem:
        raise DiscoveryError(
            f"The discovery document at {url} names the issuer {issuer!r}: {problem}"
        )
    prompts = document.get("prompt_values_supported")
    return Configuration(
        tenant=tenant,
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        device_authorization_endpoint=device,
        prompt_values_supported=tuple(str(p) for p in prompts)
        if isinstance(prompts, list)
        else None,
        cloud_instance_name=str(document["cloud_instance_name"]).lower()
        if isinstance(document.get("cloud_instance_name"), str)
        else None,
    )


def issuer_problem(issuer: Any, tenant: str) -> str | None:
    """Why `issuer` is not the one a document fetched for `tenant` may name; None if fine."""
    if not isinstance(issuer, str):
        return "it is not a string."
    parts = urlsplit(issuer)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        return "an issuer must be an https URL without query or fragment."
    if parts.hostname.lower() not in settings.MICROSOFT_ISSUER_HOSTS:
        return (
            f"its host is not {' or '.join(settings.MICROSOFT_ISSUER_HOSTS)}, the issuer "
            "host(s) of the configured cloud. Check MICROSOFT_CLOUD (or MICROSOFT_ISSUER_HOSTS)."
        )
    if parts.port is not None:
        return "an issuer of this cloud has no port."
    match = _ISSUER_PATH.match(parts.path)
    if match is None:
        return f"its path is not /{tenant}/v2.0."
    named = match["tenant"]
    if named.lower() == tenant.lower():
        return None
    if tenant.lower() in ALIASES:
        return None if named == TEMPLATE else f"a multi-tenant document must name {TEMPLATE}."
    if _is_guid(tenant):
        return f"it names tenant {named}, not {tenant}."
    # Asked for by domain name: the issuer names the tenant's GUID.
    return None if _is_guid(named) else f"it names {named}, which is not a tenant id."


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def tenant_id_for_domain(domain: str) -> str:
    """Home-realm discovery: the tenant GUID whose discovery document a domain names."""
    found = configuration(domain).tenant_id
    if found is None:
        raise DiscoveryError(f"The discovery document for {domain} names no tenant id.")
    return found


def serves(tenant: str) -> bool:
    """Whether the authority serves a (valid) discovery document for `tenant`, e.g.
    `organizations`. Unreachable is not an answer: that raises DiscoveryUnavailable."""
    try:
        configuration(tenant)
    except DiscoveryUnavailable:
        raise
    except DiscoveryError as exc:
        logger.info("The authority does not serve %s: %s", tenant, exc)
        return False
    return True
