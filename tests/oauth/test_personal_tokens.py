"""Personal access tokens: created by a session, shown once, stored hashed, used as a bearer token.

What a personal token may do is compared with an OAuth token's in
``tests/oauth/test_personal_token_equivalence.py``; here: its life (creation, validation,
use, expiry, networks, the once-a-minute ``last_used_at``, revocation) and its records.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AuditEvent, User
from oauth import personal_tokens, services, token_cache
from oauth.models import PersonalToken
from tests.factories import PASSWORD, admin, customer, manager
from tests.support.clients import api_call, api_client
from tests.support.oauth import api_get, api_post, assert_api_error, mint_token
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db

CREATE = {"name": "nightly export", "scopes": ["orders:read"], "expires_in_days": 30}
TOKEN_FIELDS = {"id", "name", "prefix", "scopes", "allowed_ips", "created_at", "expires_at", "last_used_at"}


def make_token(user, scopes: str = "orders:read", **kwargs) -> tuple[PersonalToken, str]:
    kwargs.setdefault("expires_in_days", 30)
    return services.personal_token_create(owner=user, name="script", scopes=scopes.split(), **kwargs)


def assert_invalid_token(response) -> None:
    assert_api_error(response, 401, "INVALID_TOKEN")
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


# --- Creation: the secret is shown once, and stored only as a keyed hash -------------------------------


def test_creating_a_token_answers_201_with_the_secret_once_and_never_again():
    alice = customer()
    client = api_client(alice)

    response = api_call(client, "POST", "/api/tokens/", {**CREATE, "allowed_ips": ["192.0.2.7", "2001:db8::/32"]})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == TOKEN_FIELDS | {"token"}
    secret = body["token"]
    assert secret.startswith("pat_" + PersonalToken.objects.get().key_id + "_")
    assert body["prefix"] == secret[:16] and body["name"] == "nightly export" and body["scopes"] == ["orders:read"]
    assert body["allowed_ips"] == ["192.0.2.7/32", "2001:db8::/32"]
    assert body["last_used_at"] is None
    listing = api_call(client, "GET", "/api/tokens/")
    assert listing.status_code == 200
    assert [set(item) for item in listing.json()["results"]] == [TOKEN_FIELDS]
    assert secret not in listing.content.decode()
    assert secret not in page_client(alice).get("/accounts/tokens/").content.decode()


def test_the_secret_carries_at_least_256_random_bits():
    _token, secret = make_token(customer())
    random_part = secret.split("_", 2)[2]
    assert len(random_part) >= 43  # 43 base64url characters: 258 bits from secrets.token_urlsafe(32)
    assert len({make_token(customer())[1] for _ in range(20)}) == 20


def test_the_database_row_holds_a_keyed_hash_and_never_the_secret(settings):
    personal_token, secret = make_token(customer())
    key = hmac.new(settings.SECRET_KEY.encode(), personal_tokens.KEY_LABEL, hashlib.sha256).digest()

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM oauth_personaltoken")
        row = cursor.fetchone()

    assert not any(secret[16:] in str(value) for value in row)
    assert personal_token.secret_hash == hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
    assert personal_token.secret_hash != hashlib.sha256(secret.encode()).hexdigest()  # keyed, not a bare digest
    assert not personal_token.secret_hash.startswith(("argon2", "pbkdf2"))  # not the password hasher


def test_a_configured_pat_hash_key_is_the_key(settings):
    settings.PAT_HASH_KEY = "a key of its own"
    personal_token, secret = make_token(customer())
    assert personal_token.secret_hash == hmac.new(b"a key of its own", secret.encode(), hashlib.sha256).hexdigest()
    assert api_get(Client(), "/api/me/", secret).status_code == 200


def test_no_secret_reaches_any_log_line(caplog):
    alice = customer()
    with caplog.at_level(logging.DEBUG):
        secret = api_call(api_client(alice), "POST", "/api/tokens/", CREATE).json()["token"]
        assert api_get(Client(), "/api/orders/", secret).status_code == 200
        assert_invalid_token(api_get(Client(), "/api/orders/", secret + "x"))
    random_part = secret.split("_", 2)[2]
    assert caplog.records
    assert not [record for record in caplog.records if random_part in record.getMessage()]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": "30"}, "expires_in_days"),
        ({"expires_in_days": True}, "expires_in_days"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["orders:read", "admin"]}, "scopes"),
        ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ips"),
        ({"allowed_ips": ["not an address"]}, "allowed_ips"),
        ({"allowed_ips": [" 10.0.0.1"]}, "allowed_ips"),
        ({"name": ""}, "name"),
        ({"owner": "someone"}, "owner"),
    ],
)
def test_bad_input_is_a_400_that_names_the_field(change, field):
    response = api_call(api_client(customer()), "POST", "/api/tokens/", {**CREATE, **change})

    assert_api_error(response, 400, "VALIDATION_ERROR")
    assert field in response.json()["fields"]
    assert not PersonalToken.objects.exists()


def test_the_longest_lifetime_is_pat_max_days(settings):
    settings.PAT_MAX_DAYS = 10
    client = api_client(customer())

    assert api_call(client, "POST", "/api/tokens/", {**CREATE, "expires_in_days": 11}).status_code == 400
    response = api_call(client, "POST", "/api/tokens/", {**CREATE, "expires_in_days": 10})

    assert response.status_code == 201, response.content
    token = PersonalToken.objects.get()
    assert token.expires_at - token.created_at == timedelta(days=10)


# --- Only a session manages tokens -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["oauth", "personal"])
def test_no_bearer_token_manages_tokens(public_client, kind):
    alice = customer()
    everything = "openid profile email orders:read orders:write"
    token = (
        mint_token(alice, public_client.application, everything)
        if kind == "oauth"
        else make_token(alice, everything)[1]
    )
    existing, _secret = make_token(alice)
    before = PersonalToken.objects.filter(owner=alice).count()

    responses = [
        api_get(Client(), "/api/tokens/", token),
        api_post(Client(), "/api/tokens/", token, CREATE),
        api_post(Client(), f"/api/tokens/{existing.pk}/", token, method="DELETE"),
    ]

    for response in responses:
        assert_api_error(response, 403, "INSUFFICIENT_SCOPE")
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert PersonalToken.objects.filter(owner=alice).count() == before
    assert PersonalToken.objects.get(pk=existing.pk).revoked_at is None


def test_an_anonymous_caller_is_401_not_authenticated():
    for response in (Client().get("/api/tokens/"), Client().delete(f"/api/tokens/{uuid.uuid4()}/")):
        assert_api_error(response, 401, "NOT_AUTHENTICATED")


def test_a_person_sees_and_revokes_only_their_own_tokens():
    alice, bob = customer(), customer()
    bobs, bobs_secret = make_token(bob)
    client = api_client(alice)

    assert api_call(client, "GET", "/api/tokens/").json()["results"] == []
    assert_api_error(api_call(client, "DELETE", f"/api/tokens/{bobs.pk}/"), 404, "NOT_FOUND")
    assert api_get(Client(), "/api/me/", bobs_secret).status_code == 200


# --- Using a token -------------------------------------------------------------------------------------


def test_a_token_acts_as_its_owner_narrowed_by_its_scopes():
    maria = manager()
    _token, secret = make_token(maria, "orders:read")

    me = api_get(Client(), "/api/me/", secret)

    assert me.status_code == 200
    assert me.json() == {
        "id": str(maria.pk),
        "role": "manager",
        "region": "EU",
        "permissions": ["orders.view_order", "orders.view_refundrequest"],
    }
    assert_api_error(
        api_post(Client(), "/api/orders/", secret, {"amount": "1.00", "currency": "EUR"}), 403, "INSUFFICIENT_SCOPE"
    )


def test_an_expired_token_is_refused():
    personal_token, secret = make_token(customer())
    past = timezone.now() - timedelta(seconds=1)
    PersonalToken.objects.filter(pk=personal_token.pk).update(created_at=past - timedelta(days=1), expires_at=past)

    assert_invalid_token(api_get(Client(), "/api/me/", secret))


def test_a_token_expires_even_while_it_is_cached():
    personal_token, secret = make_token(customer())
    assert api_get(Client(), "/api/me/", secret).status_code == 200  # cached now
    later = personal_token.expires_at + timedelta(seconds=1)

    with mock.patch("oauth.personal_tokens.timezone.now", return_value=later):
        assert_invalid_token(api_get(Client(), "/api/me/", secret))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda secret: secret[:-1] + ("A" if secret[-1] != "A" else "B"),  # the right key id, a wrong secret
        lambda secret: "pat_" + "0" * 12 + secret[16:],  # an unknown key id
        lambda secret: secret[:20],  # too short
        lambda secret: "pat_",
        lambda secret: "pat_" + secret,
    ],
    ids=["wrong-secret", "unknown-key-id", "truncated", "prefix-only", "doubled-prefix"],
)
def test_an_unknown_or_altered_token_is_refused(mangle):
    _token, secret = make_token(customer())
    assert api_get(Client(), "/api/me/", secret).status_code == 200  # its row is cached now

    assert_invalid_token(api_get(Client(), "/api/me/", mangle(secret)))


@pytest.mark.parametrize("warm", [False, True], ids=["cold-cache", "warm-cache"])
def test_the_secret_is_compared_with_hmac_compare_digest(warm):
    _token, secret = make_token(customer())
    if warm:
        api_get(Client(), "/api/me/", secret)

    with mock.patch("oauth.personal_tokens.hmac.compare_digest", wraps=hmac.compare_digest) as compare:
        assert api_get(Client(), "/api/me/", secret).status_code == 200
        assert_invalid_token(api_get(Client(), "/api/me/", secret[:-2] + "zz"))

    assert compare.call_count >= 2


def test_an_inactive_or_deleted_owners_token_is_refused_even_if_not_revoked():
    alice, bob = customer(), customer()
    _a, alices = make_token(alice)
    _b, bobs = make_token(bob)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    User.objects.filter(pk=bob.pk).update(deleted_at=timezone.now())

    assert_invalid_token(api_get(Client(), "/api/me/", alices))
    assert_invalid_token(api_get(Client(), "/api/me/", bobs))


# --- Allowed networks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "allowed,address,is_allowed",
    [
        (["192.0.2.0/24"], "192.0.2.200", True),
        (["192.0.2.0/24"], "198.51.100.1", False),
        (["192.0.2.7"], "192.0.2.7", True),
        (["192.0.2.7"], "192.0.2.8", False),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::5", False),
        (["192.0.2.0/24"], "::ffff:192.0.2.9", True),  # an IPv4-mapped address is its IPv4 address
        (["2001:db8::/32", "10.0.0.0/8"], "10.1.2.3", True),
        ([], "203.0.113.9", True),
    ],
)
def test_a_token_is_refused_from_an_address_outside_its_networks(allowed, address, is_allowed):
    _token, secret = make_token(customer(), allowed_ips=allowed)

    response = Client(REMOTE_ADDR=address).get("/api/me/", headers={"Authorization": f"Bearer {secret}"})

    if is_allowed:
        assert response.status_code == 200, response.content
    else:
        assert_invalid_token(response)


def test_the_client_address_behind_a_trusted_proxy_is_the_proxys_entry(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    _token, secret = make_token(customer(), allowed_ips=["192.0.2.0/24"])
    proxy = Client(REMOTE_ADDR="10.0.0.1")

    allowed = proxy.get(
        "/api/me/", headers={"Authorization": f"Bearer {secret}", "X-Forwarded-For": "203.0.113.1, 192.0.2.5"}
    )
    spoofed = proxy.get(
        "/api/me/", headers={"Authorization": f"Bearer {secret}", "X-Forwarded-For": "192.0.2.5, 203.0.113.1"}
    )

    assert allowed.status_code == 200
    assert_invalid_token(spoofed)


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored():
    _token, secret = make_token(customer(), allowed_ips=["192.0.2.0/24"])

    response = Client(REMOTE_ADDR="203.0.113.1").get(
        "/api/me/", headers={"Authorization": f"Bearer {secret}", "X-Forwarded-For": "192.0.2.5"}
    )

    assert_invalid_token(response)


# --- last_used_at: at most one write a minute -------------------------------------------------------------


def last_used_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"]]


def test_last_used_is_written_once_a_minute_not_per_request():
    personal_token, secret = make_token(customer())

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api_get(Client(), "/api/me/", secret).status_code == 200

    assert len(last_used_writes(queries.captured_queries)) == 1
    first = PersonalToken.objects.get(pk=personal_token.pk).last_used_at
    assert first is not None

    # The once-a-minute mark is gone (another process, an evicted key): the row still refuses within the minute.
    cache.clear()
    assert api_get(Client(), "/api/me/", secret).status_code == 200
    assert PersonalToken.objects.get(pk=personal_token.pk).last_used_at == first

    # A minute later it is written again.
    cache.clear()
    later = timezone.now() + timedelta(seconds=61)
    with mock.patch("oauth.personal_tokens.timezone.now", return_value=later):
        assert api_get(Client(), "/api/me/", secret).status_code == 200
    assert PersonalToken.objects.get(pk=personal_token.pk).last_used_at == later


def test_the_page_shows_when_a_token_was_last_used():
    alice = customer()
    personal_token, secret = make_token(alice)
    assert "never" in page_client(alice).get("/accounts/tokens/").content.decode()

    api_get(Client(), "/api/me/", secret)

    used = PersonalToken.objects.get(pk=personal_token.pk).last_used_at
    html = page_client(alice).get("/accounts/tokens/").content.decode()
    assert f'datetime="{used.isoformat()}"' in html


# --- Audit: creation, first use from a new address, revocation ---------------------------------------------------


def events(kind: str, target: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=kind, target=target).order_by("created_at"))


def test_creation_first_use_from_each_address_and_revocation_are_audited():
    alice = customer()
    client = api_client(alice)
    created = api_call(client, "POST", "/api/tokens/", CREATE).json()
    secret, prefix = created["token"], created["prefix"]

    for address in ("192.0.2.1", "192.0.2.1", "2001:db8::1", "192.0.2.1"):
        cache.clear()  # even once the minute's mark is gone, an address is audited once
        Client(REMOTE_ADDR=address).get("/api/me/", headers={"Authorization": f"Bearer {secret}"})
    api_call(api_client(alice), "DELETE", f"/api/tokens/{created['id']}/")

    assert [(e.actor_id, e.outcome) for e in events(AuditEvent.Type.TOKEN_ISSUED, prefix)] == [(alice.pk, "success")]
    assert [e.ip for e in events(AuditEvent.Type.TOKEN_NEW_ADDRESS, prefix)] == ["192.0.2.1", "2001:db8::1"]
    assert [e.actor_id for e in events(AuditEvent.Type.TOKEN_REVOKED, prefix)] == [alice.pk]


# --- Revocation ------------------------------------------------------------------------------------------------


def test_the_owner_revokes_a_token_and_it_is_refused_at_once_even_from_a_warm_cache():
    alice = customer()
    personal_token, secret = make_token(alice)
    assert api_get(Client(), "/api/me/", secret).status_code == 200
    assert cache.get(token_cache.personal_key(personal_token.key_id)) is not None  # warm

    response = api_call(api_client(alice), "DELETE", f"/api/tokens/{personal_token.pk}/")

    assert response.status_code == 204
    assert_invalid_token(api_get(Client(), "/api/me/", secret))
    assert PersonalToken.objects.get(pk=personal_token.pk).revoked_at is not None
    assert api_call(api_client(alice), "GET", "/api/tokens/").json()["results"] == []
    assert_api_error(api_call(api_client(alice), "DELETE", f"/api/tokens/{personal_token.pk}/"), 404, "NOT_FOUND")


def test_a_cached_token_skips_the_database_and_a_revoked_one_is_not_put_back():
    personal_token, secret = make_token(customer())
    api_get(Client(), "/api/me/", secret)

    with CaptureQueriesContext(connection) as queries:
        assert api_get(Client(), "/api/me/", secret).status_code == 200
    assert not [q for q in queries.captured_queries if "oauth_personaltoken" in q["sql"]]

    services.personal_token_revoke(personal_token=personal_token, acting_user=personal_token.owner)

    assert cache.get(token_cache.personal_key(personal_token.key_id)) == token_cache.TOMBSTONE
    assert_invalid_token(api_get(Client(), "/api/me/", secret))
    assert cache.get(token_cache.personal_key(personal_token.key_id)) == token_cache.TOMBSTONE


def test_changing_the_owner_drops_the_cached_token():
    alice = customer()
    _token, secret = make_token(alice)
    assert api_get(Client(), "/api/me/", secret).json()["role"] == "customer"

    alice.role = "support"
    alice.save()

    assert api_get(Client(), "/api/me/", secret).json()["role"] == "support"
    alice.is_active = False
    alice.save()
    assert_invalid_token(api_get(Client(), "/api/me/", secret))


def test_changing_the_password_revokes_every_personal_token():
    alice = customer()
    tokens = [make_token(alice), make_token(alice, "openid")]
    for _token, secret in tokens:
        assert api_get(Client(), "/api/me/", secret).status_code == 200  # warm

    response = page_client(alice).post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase 77",
            "new_password2": "a brand new passphrase 77",
        },
    )

    assert response.status_code == 302, response.content
    for personal_token, secret in tokens:
        assert_invalid_token(api_get(Client(), "/api/me/", secret))
        assert PersonalToken.objects.get(pk=personal_token.pk).revoked_at is not None
    assert AuditEvent.objects.filter(
        event=AuditEvent.Type.TOKEN_REVOKED, target__startswith=f"user {alice.pk}"
    ).exists()


def test_resetting_the_password_revokes_every_personal_token(rf):
    alice = customer()
    personal_token, secret = make_token(alice)
    api_get(Client(), "/api/me/", secret)

    account_services.password_reset_complete(request=rf.get("/"), user=alice)

    assert_invalid_token(api_get(Client(), "/api/me/", secret))
    assert PersonalToken.objects.get(pk=personal_token.pk).revoked_at is not None


def test_deactivation_revokes_personal_tokens_and_reactivation_brings_none_back():
    alice = customer()
    personal_token, secret = make_token(alice)
    api_get(Client(), "/api/me/", secret)
    ada = api_client(admin())

    assert api_call(ada, "PATCH", f"/api/users/{alice.pk}/", {"is_active": False}).status_code == 200
    assert_invalid_token(api_get(Client(), "/api/me/", secret))
    assert api_call(ada, "PATCH", f"/api/users/{alice.pk}/", {"is_active": True}).status_code == 200

    assert_invalid_token(api_get(Client(), "/api/me/", secret))
    assert PersonalToken.objects.get(pk=personal_token.pk).revoked_at is not None


def test_deletion_revokes_personal_tokens():
    alice = customer()
    personal_token, secret = make_token(alice)
    api_get(Client(), "/api/me/", secret)

    assert api_call(api_client(admin()), "DELETE", f"/api/users/{alice.pk}/").status_code == 204

    assert_invalid_token(api_get(Client(), "/api/me/", secret))
    assert not PersonalToken.objects.filter(owner=alice).exists()  # a deleted account's data goes


# --- Admins: see and revoke anyone's tokens in the Django admin ------------------------------------------------


def test_an_admin_sees_everyones_tokens_and_revokes_one_from_the_admin():
    alice, bob = customer(), customer()
    alices, alices_secret = make_token(alice)
    bobs, bobs_secret = make_token(bob)
    for secret in (alices_secret, bobs_secret):
        assert api_get(Client(), "/api/me/", secret).status_code == 200  # warm
    ada = admin()
    browser = page_client(ada)

    listing = browser.get("/admin/oauth/personaltoken/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert alices.prefix in html and bobs.prefix in html
    assert alices_secret not in html
    detail = browser.get(f"/admin/oauth/personaltoken/{alices.pk}/change/")
    assert detail.status_code == 200 and alices_secret not in detail.content.decode()

    response = browser.post(
        "/admin/oauth/personaltoken/", {"action": "revoke", "_selected_action": [str(alices.pk)], "index": 0}
    )

    assert response.status_code == 302, response.content
    assert_invalid_token(api_get(Client(), "/api/me/", alices_secret))
    assert api_get(Client(), "/api/me/", bobs_secret).status_code == 200
    revoked = AuditEvent.objects.get(event=AuditEvent.Type.TOKEN_REVOKED, target=alices.prefix)
    assert revoked.actor_id == ada.pk and "admin" in revoked.reason


def test_the_admins_token_page_cannot_edit_a_token():
    alices, _secret = make_token(customer())
    browser = page_client(admin())

    response = browser.post(
        f"/admin/oauth/personaltoken/{alices.pk}/change/", {"name": "renamed", "scopes": "orders:write"}
    )

    assert response.status_code == 403
    alices.refresh_from_db()
    assert (alices.name, alices.scopes) == ("script", "orders:read")


def test_other_roles_do_not_see_tokens_in_the_admin():
    make_token(customer())
    assert page_client(manager()).get("/admin/oauth/personaltoken/").status_code in (302, 403)


# --- The page: /accounts/tokens/ -------------------------------------------------------------------------------


def test_a_person_creates_a_token_on_the_page_sees_it_once_uses_it_and_revokes_it():
    alice = customer()
    browser = page_client(alice)

    created = browser.post(
        "/accounts/tokens/",
        {
            "name": "ci",
            "scopes": ["openid", "orders:read"],
            "expires_in_days": "7",
            "allowed_ips": "192.0.2.0/24\n2001:db8::/32",
        },
    )

    assert created.status_code == 200, created.content
    personal_token = PersonalToken.objects.get(owner=alice)
    html = created.content.decode()
    secret = html.split('id="new-token-value" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert secret.startswith(personal_token.prefix + "_")
    assert (
        personal_token.allowed_ips == ["192.0.2.0/24", "2001:db8::/32"]
        and personal_token.scopes == "openid orders:read"
    )
    assert "no-store" in created["Cache-Control"]
    again = browser.get("/accounts/tokens/").content.decode()
    assert secret not in again and personal_token.prefix in again

    assert (
        Client(REMOTE_ADDR="192.0.2.9").get("/api/me/", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )

    revoked = browser.post(f"/accounts/tokens/{personal_token.pk}/revoke/")

    assert revoked.status_code == 302 and revoked["Location"] == "/accounts/tokens/"
    assert_invalid_token(Client(REMOTE_ADDR="192.0.2.9").get("/api/me/", headers={"Authorization": f"Bearer {secret}"}))
    assert f"/accounts/tokens/{personal_token.pk}/revoke/" not in browser.get("/accounts/tokens/").content.decode()


@pytest.mark.parametrize(
    "form,field",
    [
        ({"name": "ci", "scopes": ["orders:read"], "expires_in_days": "366"}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": "30"}, "scopes"),
        (
            {"name": "ci", "scopes": ["orders:read"], "expires_in_days": "30", "allowed_ips": "10.0.0.0/40"},
            "allowed_ips",
        ),
    ],
)
def test_the_page_refuses_a_bad_form_and_creates_nothing(form, field):
    response = page_client(customer()).post("/accounts/tokens/", form)

    assert response.status_code == 200
    assert f'id="id_{field}_error"' in response.content.decode() or 'class="error"' in response.content.decode()
    assert response.context["form"].errors.get(field)
    assert not PersonalToken.objects.exists()


def test_nobody_revokes_anothers_token_on_the_page():
    bobs, secret = make_token(customer())

    response = page_client(customer()).post(f"/accounts/tokens/{bobs.pk}/revoke/")

    assert response.status_code == 404
    assert api_get(Client(), "/api/me/", secret).status_code == 200


def test_an_anonymous_visitor_is_sent_to_the_login_page():
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


def test_saving_or_deleting_a_token_row_drops_its_cache_entry():
    personal_token, secret = make_token(customer(), "orders:read")
    assert api_get(Client(), "/api/orders/", secret).status_code == 200  # cached now

    personal_token.scopes = "openid"
    personal_token.save()

    assert_api_error(api_get(Client(), "/api/orders/", secret), 403, "INSUFFICIENT_SCOPE")
    cache.delete(token_cache.personal_key(personal_token.key_id))  # the tombstone's 30 s are over
    assert api_get(Client(), "/api/me/", secret).status_code == 200  # cached again
    assert isinstance(cache.get(token_cache.personal_key(personal_token.key_id)), dict)

    personal_token.delete()

    assert_invalid_token(api_get(Client(), "/api/me/", secret))


def test_with_the_cache_unreachable_revoking_answers_503_and_changes_nothing():
    alice = customer()
    personal_token, secret = make_token(alice)
    client = api_client(alice)

    down = ConnectionError("cache down")
    with (
        mock.patch.object(token_cache.cache, "set", side_effect=down),
        mock.patch.object(token_cache.cache, "set_many", side_effect=down),
    ):
        response = api_call(client, "DELETE", f"/api/tokens/{personal_token.pk}/")

    assert_api_error(response, 503, "SERVICE_UNAVAILABLE")
    assert PersonalToken.objects.get(pk=personal_token.pk).revoked_at is None


def test_with_the_cache_unreachable_a_token_is_read_from_the_database():
    _token, secret = make_token(customer())

    with (
        mock.patch.object(token_cache.cache, "get", side_effect=ConnectionError("cache down")),
        mock.patch.object(personal_tokens.cache, "add", side_effect=ConnectionError("cache down")),
    ):
        assert api_get(Client(), "/api/me/", secret).status_code == 200
        assert_invalid_token(api_get(Client(), "/api/me/", secret[:-2] + "zz"))
