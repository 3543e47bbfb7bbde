"""Registering OAuth clients: one place for the rules, used by the command and the admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from accounts.models import Region, Role
from oauth.models import ClientPolicy
from permissions.scopes import catalogue

Application = get_application_model()

GRANTS = {
    "authorization-code": Application.GRANT_AUTHORIZATION_CODE,
    "client-credentials": Application.GRANT_CLIENT_CREDENTIALS,
}


def validate_redirect_uri(uri: str) -> None:
    """https, or http on a loopback address (RFC 8252); no fragment, no userinfo, no wildcard."""
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ValidationError(f"{uri}: a redirect URI cannot have a fragment.")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValidationError(f"{uri}: a redirect URI cannot carry user information.")
    if "*" in uri:
        raise ValidationError(f"{uri}: wildcards are not allowed; register each URI exactly.")
    if not parts.hostname:
        raise ValidationError(f"{uri}: an absolute URI with a host is required.")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and parts.hostname in {"127.0.0.1", "::1"}:
        return
    raise ValidationError(f"{uri}: use https (http is allowed only on 127.0.0.1 or [::1]).")


def validate_scopes(scopes: list[str]) -> None:
    known = catalogue()
    unknown = [scope for scope in scopes if scope not in known]
    if unknown:
        raise ValidationError(f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(known)}.")
    if not scopes:
        raise ValidationError("Give at least one scope.")


@dataclass
class Registered:
    client_id: str
    client_secret: str | None


@transaction.atomic
def register_client(
    *,
    name: str,
    client_type: str,
    grant: str,
    scopes: list[str],
    redirect_uris: Sequence[str] = (),
    post_logout_redirect_uris: Sequence[str] = (),
    role: str = "",
    region: str = "",
    client_id: str | None = None,
    skip_consent: bool = False,
    introspect: bool = False,
) -> Registered:
    """Create a client and its policy; the secret (confidential clients) is returned once."""
    if client_type not in (Application.CLIENT_PUBLIC, Application.CLIENT_CONFIDENTIAL):
        raise ValidationError("--type must be public or confidential.")
    if grant not in GRANTS:
        raise ValidationError(f"--grant must be one of: {', '.join(GRANTS)}.")
    validate_scopes(scopes)
    for uri in [*redirect_uris, *post_logout_redirect_uris]:
        validate_redirect_uri(uri)
    if grant == "authorization-code":
        if not redirect_uris:
            raise ValidationError("An authorization-code client needs at least one --redirect-uri.")
        if role or region:
            raise ValidationError(
                "--role and --region are for client-credentials clients; other clients act for their user."
            )
    else:
        if client_type != Application.CLIENT_CONFIDENTIAL:
            raise ValidationError("A client-credentials client must be confidential.")
        if role not in Role.values or (role != Role.ADMIN and region not in Region.values):
            raise ValidationError(
                "A client-credentials client needs --role and --region (e.g. --role support --region EU)."
            )
        if {"openid", "profile", "email"} & set(scopes):
            raise ValidationError("A machine client has no user: openid, profile and email make no sense for it.")
    if introspect and client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValidationError("Only a confidential client can be allowed to introspect.")
    if client_id and Application.objects.filter(client_id=client_id).exists():
        raise ValidationError(f"A client with id {client_id} already exists.")
    secret = generate_client_secret() if client_type == Application.CLIENT_CONFIDENTIAL else ""
    application = Application(
        name=name,
        client_type=client_type,
        authorization_grant_type=GRANTS[grant],
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        skip_authorization=skip_consent,
        algorithm=Application.RS256_ALGORITHM if "openid" in scopes else Application.NO_ALGORITHM,
        client_secret=secret,
        hash_client_secret=True,
    )
    if client_id:
        application.client_id = client_id
    application.save()
    ClientPolicy.objects.create(
        application=application, scopes=" ".join(scopes), role=role, region=region, can_introspect=introspect
    )
    return Registered(client_id=application.client_id, client_secret=secret or None)
