from __future__ import annotations

from django.urls import path

from sandbox.identity import admin_consent, endpoints, pages

urlpatterns = [
    path("common/discovery/instance", endpoints.instance_discovery, name="instance-discovery"),
    path("device", pages.device_login, name="device-login"),
    path(
        "<str:tenant>/v2.0/.well-known/openid-configuration",
        endpoints.openid_configuration,
        name="openid-configuration",
    ),
    path("<str:tenant>/discovery/v2.0/keys", endpoints.jwks, name="jwks"),
    path("<str:tenant>/oauth2/v2.0/devicecode", endpoints.devicecode, name="devicecode"),
    path("<str:tenant>/oauth2/v2.0/token", endpoints.token, name="token"),
    path("<str:tenant>/oauth2/v2.0/authorize", pages.authorize, name="authorize"),
    path("<str:tenant>/oauth2/v2.0/logout", pages.logout, name="logout"),
    path("<str:tenant>/v2.0/adminconsent", admin_consent.admin_consent, name="adminconsent"),
]
