"""Audit events of the provider: consent, issue, refresh, revocation, reuse; never a credential."""

from __future__ import annotations

import base64
import logging

import pytest
from django.test import Client

from accounts.models import AuditEvent
from tests.support.oauth import (
    AUTHORIZE_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    approve_on,
    authorize_on,
    authorize_url,
    code_from,
    exchange_code,
    form_post,
    query,
    refresh,
)

Event = AuditEvent.Type

pytestmark = pytest.mark.django_db


@pytest.fixture
def logs(caplog):
    """Every log line at INFO and above, the non-propagating loggers included."""
    extra = [logging.getLogger(name) for name in ("audit", "django.security")]
    for logger in extra:
        logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="audit")
    yield caplog
    for logger in extra:
        logger.removeHandler(caplog.handler)


def events(event: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=event, **filters))


def all_audit_text() -> str:
    rows = AuditEvent.objects.values_list("event", "outcome", "client_id", "target", "reason", "user_agent")
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_consent_granted_and_denied_are_audited(browser, alice, public_client):
    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid orders:read").url)
    approve_on(browser, page, allow=False)
    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid orders:read").url)
    approve_on(browser, page)

    (denied,) = events(Event.CONSENT_DENIED)
    (granted,) = events(Event.CONSENT_GRANTED)
    for event in (denied, granted):
        assert event.actor_id == alice.pk
        assert event.client_id == public_client.client_id
    assert denied.outcome == AuditEvent.Outcome.DENIED
    assert granted.outcome == AuditEvent.Outcome.SUCCESS
    assert "orders:read" in granted.reason


def test_issue_refresh_revocation_and_reuse_are_audited_without_any_credential(
    browser, alice, public_client, service_client, logs
):
    response, request = authorize_on(browser, public_client.client_id)
    code = code_from(response, request)
    tokens = exchange_code(Client(), public_client.client_id, code, request).json()
    refreshed = refresh(public_client.client_id, tokens["refresh_token"]).json()
    replayed = refresh(public_client.client_id, tokens["refresh_token"])
    code_replay = exchange_code(Client(), public_client.client_id, code, request)
    second, second_request = authorize_on(browser, public_client.client_id)
    second_tokens = exchange_code(
        Client(), public_client.client_id, code_from(second, second_request), second_request
    ).json()
    revoked = form_post(
        Client(), REVOKE_PATH, {"token": second_tokens["access_token"], "client_id": public_client.client_id}
    )
    basic = base64.b64encode(f"{service_client.client_id}:{service_client.client_secret}".encode()).decode()
    machine = form_post(
        Client(), TOKEN_PATH, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    ).json()
    assert replayed.status_code == 400 and code_replay.status_code == 400 and revoked.status_code == 200

    issued = events(Event.TOKEN_ISSUED)
    assert {(e.actor_id, e.client_id) for e in issued} == {
        (alice.pk, public_client.client_id),
        (None, service_client.client_id),
    }
    assert len(issued) == 3
    (refresh_event,) = events(Event.TOKEN_REFRESHED)
    assert (refresh_event.actor_id, refresh_event.client_id) == (alice.pk, public_client.client_id)
    assert events(Event.TOKEN_REVOKED, client_id=public_client.client_id)
    reuse = events(Event.TOKEN_REUSE_DETECTED)
    assert len(reuse) >= 2  # the refresh token and the code
    assert all(e.actor_id == alice.pk and e.outcome == AuditEvent.Outcome.DENIED for e in reuse)
    assert {e.reason for e in reuse} >= {"refresh token replayed", "authorization code replayed"}

    credentials = [
        code,
        query(second["Location"])["code"],
        request.code_verifier,
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        second_tokens["access_token"],
        second_tokens["refresh_token"],
        machine["access_token"],
        service_client.client_secret,
        basic,
    ]
    rows = all_audit_text()
    lines = "\n".join(record.getMessage() for record in logs.records)
    assert "event=token_issued" in lines and "event=token_reuse_detected" in lines
    for value in credentials:
        assert value not in rows
        assert value not in lines


def test_revoking_a_connected_app_is_audited(browser, alice, public_client):
    authorize_on(browser, public_client.client_id)

    browser.post(f"/accounts/apps/{public_client.application.pk}/revoke/")

    (event,) = events(Event.TOKEN_REVOKED)
    assert (event.actor_id, event.client_id) == (alice.pk, public_client.client_id)


def test_token_events_carry_the_callers_ip_and_user_agent(service_client):
    """The validator has no Django request; the audit still gets where the call came from."""
    credentials = base64.b64encode(f"{service_client.client_id}:{service_client.client_secret}".encode()).decode()
    response = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="resource-server/1.0").post(
        TOKEN_PATH,
        {"grant_type": "client_credentials", "scope": "orders:read"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(event=Event.TOKEN_ISSUED)
    assert (event.ip, event.user_agent, event.client_id) == (
        "203.0.113.7",
        "resource-server/1.0",
        service_client.client_id,
    )


def test_a_revoked_refresh_token_tried_later_is_refused_but_is_no_replay(browser, alice, public_client):
    response, request = authorize_on(browser, public_client.client_id)
    tokens = exchange_code(Client(), public_client.client_id, code_from(response, request), request).json()
    revoked = form_post(
        Client(),
        REVOKE_PATH,
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": public_client.client_id},
    )
    assert revoked.status_code == 200

    answer = refresh(public_client.client_id, tokens["refresh_token"])

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert not events(Event.TOKEN_REUSE_DETECTED)
