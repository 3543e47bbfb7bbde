"""The API sign-in counted before DRF: the same answers as through DRF, every attempt counted once.

``accounts.api.LoginView`` counts a plainly well-formed attempt (``plain_login_credentials``)
before DRF wraps the request, and answers a refusal there. These tests hold it to what DRF
would have done: the same 429, malformed bodies still 400/415 and never counted, a body the
early check leaves to DRF counted there, and no attempt counted twice.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.conf import settings
from django.core.validators import validate_email
from django.test import Client, RequestFactory
from django_ratelimit.core import get_usage
from django_redis.exceptions import ConnectionInterrupted
from hypothesis import given, strategies as st
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts import api, throttles
from accounts.api import LoginSerializer, plain_login_credentials
from accounts.models import AuditEvent, normalize_email
from core.api import TooManyLoginAttempts, exception_handler, too_many_login_attempts
from tests.accounts.helpers import LOGIN_API, api_login_response
from tests.factories import PASSWORD, customer

pytestmark = pytest.mark.django_db

WRONG = "not the right password"


def _account_count(email: str) -> int:
    usage = get_usage(
        RequestFactory().post("/"),
        group=throttles.LOGIN_ACCOUNT,
        key=lambda _group, _request: normalize_email(email),
        rate=settings.LOGIN_RATE_PER_ACCOUNT,
        increment=False,
    )
    assert usage is not None
    return usage["count"]


def _ip_count() -> int:
    usage = get_usage(
        RequestFactory().post("/"),
        group=throttles.LOGIN_IP,
        key=lambda _group, _request: "127.0.0.1",
        rate=settings.LOGIN_RATE_PER_IP,
        increment=False,
    )
    assert usage is not None
    return usage["count"]


def _throttle(client: Client, email: str) -> None:
    for _ in range(5):
        assert api_login_response(client, email, WRONG).status_code == 401
    assert _account_count(email) == 5


@pytest.fixture
def frozen_wait():
    """One clock for the throttle's wait, so two refusals give the same Retry-After."""
    now = time.time()
    with mock.patch("accounts.throttles.time", SimpleNamespace(time=lambda: now)):
        yield


# --- The refusal --------------------------------------------------------------------------------


def test_the_early_refusal_is_drfs_own_429_byte_for_byte(client, frozen_wait):
    user = customer()
    _throttle(client, user.email)
    body = {"email": user.email, "password": PASSWORD}

    early = client.post(LOGIN_API, body, content_type="application/json")
    # A query string leaves the request to DRF (``?format=`` could pick another renderer).
    through_drf = client.post(f"{LOGIN_API}?via=drf", body, content_type="application/json")

    assert early.status_code == through_drf.status_code == 429
    assert early.content == through_drf.content
    assert early.json()["code"] == "TOO_MANY_LOGIN_ATTEMPTS"
    varying = {"X-Request-ID"}
    assert {k: v for k, v in early.items() if k not in varying} == {
        k: v for k, v in through_drf.items() if k not in varying
    }
    assert 0 < int(early["Retry-After"]) <= 300
    assert _account_count(user.email) == 7


@pytest.mark.parametrize("wait", [1, 2, 300])
def test_the_early_429_body_is_the_exception_handlers_for_every_wait(wait):
    handled = exception_handler(TooManyLoginAttempts(wait=wait), {})

    response = too_many_login_attempts(wait, allow="POST, OPTIONS")

    assert response.status_code == handled.status_code == 429
    assert response.content == JSONRenderer().render(handled.data)
    assert response["Retry-After"] == handled["Retry-After"] == str(wait)
    assert response["Content-Type"] == "application/json"


def test_a_refused_attempt_never_reaches_drf_or_the_password_check(client, hash_spy):
    user = customer()
    _throttle(client, user.email)
    hash_spy.reset_mock()

    with mock.patch.object(APIView, "initial", side_effect=AssertionError("DRF reached")):
        response = api_login_response(client, user.email, PASSWORD)

    assert response.status_code == 429
    assert response["Retry-After"].isdigit()
    assert hash_spy.call_count == 0


def test_early_refusals_are_audited_in_the_buckets_row_with_their_count(client, audit_log):
    user = customer()
    _throttle(client, user.email)

    for _ in range(3):
        assert api_login_response(client, user.email, PASSWORD).status_code == 429

    [row] = AuditEvent.objects.filter(event="login_throttled")
    assert (row.count, row.target, row.reason) == (3, f"email:{user.email}", "per account")
    assert len([r for r in audit_log.records if "event=login_throttled" in r.getMessage()]) == 1


def test_an_outage_while_counting_early_gets_drfs_503_and_signs_nobody_in():
    user = customer()
    browser = Client(raise_request_exception=False)
    body = {"email": user.email, "password": PASSWORD}

    with mock.patch("accounts.throttles.count", side_effect=ConnectionInterrupted(connection=None)):
        early = browser.post(LOGIN_API, body, content_type="application/json")
        through_drf = browser.post(f"{LOGIN_API}?via=drf", body, content_type="application/json")

    assert (early.status_code, early.json()["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert early.content == through_drf.content
    assert {k: v for k, v in early.items() if k != "X-Request-ID"} == {
        k: v for k, v in through_drf.items() if k != "X-Request-ID"
    }
    assert early["Retry-After"].isdigit()
    assert browser.get("/api/me/").status_code == 401


# --- Counted once ------------------------------------------------------------------------------


def test_an_attempt_counted_early_is_not_counted_again_by_the_view(client):
    user = customer()

    assert api_login_response(client, user.email, WRONG).status_code == 401
    assert (_account_count(user.email), _ip_count()) == (1, 1)
    assert api_login_response(client, user.email, PASSWORD).status_code == 200
    assert (_account_count(user.email), _ip_count()) == (2, 2)


def test_an_attempt_counted_early_is_checked_with_its_early_credentials_not_parsed_again(client):
    """The early check took only what LoginSerializer accepts unchanged: post() reuses its credentials."""
    user = customer()
    with mock.patch.object(LoginSerializer, "is_valid", side_effect=AssertionError("validated twice")):
        assert api_login_response(client, user.email, WRONG).status_code == 401
        response = api_login_response(client, user.email.upper(), PASSWORD)  # normalized as ever
    assert response.status_code == 200 and response.json()["user"]["email"] == user.email


def test_a_body_the_early_check_leaves_to_drf_is_still_validated_by_the_serializer(client):
    user = customer()
    original = LoginSerializer.is_valid
    with mock.patch.object(LoginSerializer, "is_valid", autospec=True, side_effect=original) as is_valid:
        response = client.post(
            LOGIN_API + "?format=json", json.dumps({"email": user.email, "password": PASSWORD}),
            content_type="application/json",
        )
    assert response.status_code == 200 and is_valid.call_count == 1


def test_the_sixth_api_attempt_is_the_first_refused(client):
    user = customer()
    answers = [api_login_response(client, user.email, WRONG).status_code for _ in range(7)]
    assert answers == [401] * 5 + [429] * 2
    assert _account_count(user.email) == 7


@pytest.mark.parametrize(
    ("path", "email", "extra"),
    [
        (f"{LOGIN_API}?next=/orders/", "{email}", {}),  # a query string
        (LOGIN_API, "  {email}  ", {}),  # DRF trims the email
        (LOGIN_API, "{email}", {"HTTP_ACCEPT": "application/json; q=1"}),  # a parameter in Accept
        (LOGIN_API, "{email}", {"HTTP_ACCEPT": "text/html, application/json"}),
        (LOGIN_API, "{email}", {"CONTENT_TYPE": "application/json; charset=UTF-8"}),
    ],
)
def test_a_valid_body_the_early_check_leaves_to_drf_is_counted_there_once(client, path, email, extra):
    user = customer()
    body = json.dumps({"email": email.format(email=user.email.upper()), "password": WRONG})
    content_type = extra.pop("CONTENT_TYPE", "application/json")

    for attempt in range(1, 7):
        response = client.post(path, body, content_type=content_type, **extra)
        assert response.status_code == (401 if attempt <= 5 else 429), response.content
        assert _account_count(user.email) == attempt
    assert response["Retry-After"].isdigit()


# --- Malformed bodies: the same 400/415 as before, never counted ---------------------------------

MALFORMED = [
    ("{not json", "application/json", 400),
    ("", "application/json", 400),
    ('["a list"]', "application/json", 400),
    ('{"email": "{email}"}', "application/json", 400),
    ('{"email": "{email}", "password": ""}', "application/json", 400),
    ('{"email": "{email}", "password": "pw", "role": "admin"}', "application/json", 400),
    ('{"email": "not an email", "password": "pw"}', "application/json", 400),
    ('{"email": "{email}", "password": "nul\\u0000here"}', "application/json", 400),
    ('{"email": "{email}", "password": "\\ud800"}', "application/json", 400),
    ('{"email": "{email}", "password": "' + "x" * 4097 + '"}', "application/json", 400),
    ('{"email": "{email}", "password": NaN}', "application/json", 400),
    ("email={email}&password=pw", "application/x-www-form-urlencoded", 415),
    ('{"email": "{email}", "password": "pw"}', "text/plain", 415),
]


@pytest.mark.parametrize(("template", "content_type", "status"), MALFORMED)
def test_a_malformed_body_gets_its_400_or_415_even_when_throttled_and_is_not_counted(
    client, template, content_type, status
):
    user = customer()
    _throttle(client, user.email)
    body = template.replace("{email}", user.email)

    response = client.post(LOGIN_API, body, content_type=content_type)

    expected_code = "VALIDATION_ERROR" if status == 400 else "UNSUPPORTED_MEDIA_TYPE"
    assert (response.status_code, response.json()["code"]) == (status, expected_code)
    assert _account_count(user.email) == 5


def test_a_number_as_password_is_valid_to_drf_so_it_is_counted_there(client):
    user = customer()
    _throttle(client, user.email)

    response = client.post(LOGIN_API, {"email": user.email, "password": 12345678}, content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (429, "TOO_MANY_LOGIN_ATTEMPTS")
    assert _account_count(user.email) == 6


def test_a_body_over_the_upload_limit_gets_drfs_answer_and_is_not_counted(client, settings):
    """Reading request.body over DATA_UPLOAD_MAX_MEMORY_SIZE raises: DRF's parser meets that, not the early count."""
    user = customer()
    _throttle(client, user.email)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64

    early = api_login_response(client, user.email, PASSWORD)
    through_drf = client.post(
        f"{LOGIN_API}?via=drf", {"email": user.email, "password": PASSWORD}, content_type="application/json"
    )

    assert early.status_code != 429
    assert (early.status_code, early.content) == (through_drf.status_code, through_drf.content)
    assert _account_count(user.email) == 5


def test_a_missing_csrf_token_is_refused_before_counting(csrf_client):
    user = customer()
    _throttle(Client(), user.email)

    response = csrf_client.post(LOGIN_API, {"email": user.email, "password": PASSWORD}, content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (403, "CSRF_FAILED")
    assert _account_count(user.email) == 5


def test_an_authorization_header_is_decided_by_drf_first_and_not_counted(client):
    user = customer()
    _throttle(client, user.email)

    response = api_login_response(client, user.email, PASSWORD, HTTP_AUTHORIZATION="Bearer not-a-token")

    assert (response.status_code, response.json()["code"]) == (401, "INVALID_TOKEN")
    assert _account_count(user.email) == 5


# --- The early check is a subset of what the serializer accepts -----------------------------------


def _early(body: str, **extra) -> tuple[str, str] | None:
    request = RequestFactory().post(LOGIN_API, body, content_type="application/json", **extra)
    return plain_login_credentials(request)


def _agrees_with_the_serializer(data) -> None:
    body = json.dumps(data)
    early = _early(body)
    if early is None:
        return
    serializer = LoginSerializer(data=json.loads(body))
    assert serializer.is_valid(), (data, serializer.errors)
    assert normalize_email(early[0]) == normalize_email(serializer.validated_data["email"])
    assert early[1] == serializer.validated_data["password"]


@pytest.mark.parametrize(
    "data",
    [
        {"email": "alice@example.com", "password": PASSWORD},
        {"email": "Alice.O'Neil+tag@Example.COM", "password": "   "},
        {"email": "ana@exämple.com", "password": "pässwörd ✓"},
        {"email": "a@localhost", "password": "x" * 4096},
    ],
)
def test_the_early_check_takes_a_plain_sign_in(data):
    assert _early(json.dumps(data)) == (data["email"], data["password"])
    _agrees_with_the_serializer(data)


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ('{"email": " a@example.com", "password": "pw"}', {}),
        ('{"email": "a@example.com", "password": "pw"}', {"QUERY_STRING": "format=api"}),
        ('{"email": "a@example.com", "password": "pw"}', {"HTTP_AUTHORIZATION": "Bearer x"}),
        ('{"email": "a@example.com", "password": "pw"}', {"HTTP_ACCEPT": "application/json; indent=4"}),
        ('{"email": "a@example.com", "password": "pw"}', {"HTTP_ACCEPT": "text/html"}),
        ('\ufeff{"email": "a@example.com", "password": "pw"}', {}),
        ('{"email": "a@example.com", "password": "pw", "password": 1}', {}),
    ],
)
def test_the_early_check_leaves_anything_unusual_to_drf(body, extra):
    assert _early(body, **extra) is None


_text = st.text(st.characters(codec="utf-8") | st.sampled_from(["\x00", " ", "@", ".", "\ud800"]), max_size=30)


@given(
    st.dictionaries(
        st.sampled_from(["email", "password", "role"]),
        _text | st.emails() | st.builds(lambda a, b: f"{a}@{b}.com", _text, _text) | st.integers() | st.none(),
    )
)
def test_whatever_the_early_check_takes_the_serializer_takes_with_the_same_email(data):
    _agrees_with_the_serializer(data)


def test_an_address_is_validated_once_and_keeps_its_answer_on_every_repeat():
    valid, invalid = "repeat.check@example.com", "repeat.check@exa mple.com"
    api.is_valid_email.cache_clear()
    with mock.patch("accounts.api.validate_email", wraps=validate_email) as validator:
        for _ in range(3):
            assert _early(json.dumps({"email": valid, "password": "pw"})) == (valid, "pw")
            assert _early(json.dumps({"email": invalid, "password": "pw"})) is None
    assert [call.args for call in validator.call_args_list] == [(valid,), (invalid,)]
