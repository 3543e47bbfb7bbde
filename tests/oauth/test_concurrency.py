"""Two simultaneous exchanges of one code or one refresh token are a replay: at most one gets
tokens, every other gets 400 ``invalid_grant``, never a 5xx.

Real HTTP requests, released at the same instant from several threads (each with its own
connection), against the live server. Its request threads use database connections of their
own, so the requests really overlap in the database: on the test profile's SQLite file
(``BEGIN IMMEDIATE``, writers wait) and on PostgreSQL (``make test-services``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest
import requests
from django.db import connection
from oauth2_provider.models import get_refresh_token_model

from accounts.models import AuditEvent
from oauth.validators import Validator
from tests.factories import customer
from tests.support.oauth import REDIRECT_URI, authorize_url, bearer, code_from, live

RefreshToken = get_refresh_token_model()

RACERS = 5
ROUNDS = 6


@pytest.fixture
def race_provider(provider, settings):
    settings.TOKEN_RATE_PER_IP = settings.TOKEN_RATE_PER_CLIENT = (
        "10000/m"  # the races are the subject here, not the throttle
    )
    # An in-memory SQLite test database would be shared by every live-server thread through
    # one connection: the requests would not overlap in the database, and the test would
    # prove nothing. Fail loudly instead.
    assert not (connection.vendor == "sqlite" and connection.is_in_memory_db()), "needs a file or server database"
    return provider


def race(url: str, data: dict) -> list[requests.Response]:
    """POST the same form from RACERS threads released at the same instant."""
    barrier = threading.Barrier(RACERS)
    answers: list = []
    lock = threading.Lock()

    def run():
        with requests.Session() as session:  # a connection of its own
            barrier.wait(timeout=30)
            try:
                answer = session.post(url, data=data, timeout=60)
            except requests.RequestException as error:
                answer = error
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing request hung"
    assert all(isinstance(answer, requests.Response) for answer in answers), answers
    return answers


def assert_at_most_one_winner(answers: list[requests.Response]) -> dict:
    """At most one 200; every other answer 400 invalid_grant; never a 5xx.

    Not "exactly one": the simultaneous exchanges are a replay, which revokes the family;
    when that revocation lands before the first exchange has answered, its tokens are
    already dead and it answers invalid_grant too. How many exchanges *issued* tokens is
    asserted separately, from the audit table.
    """
    statuses = sorted(answer.status_code for answer in answers)
    assert all(status < 500 for status in statuses), [(a.status_code, a.text[:200]) for a in answers]
    winners = [answer for answer in answers if answer.status_code == 200]
    assert len(winners) <= 1, statuses
    for loser in (answer for answer in answers if answer.status_code != 200):
        assert loser.status_code == 400, (loser.status_code, loser.text[:200])
        assert loser.json()["error"] == "invalid_grant", loser.text
    return winners[0].json() if winners else {}


def audited(event: str) -> int:
    return AuditEvent.objects.filter(event=event).count()


def signed_in_browser(provider):
    browser = provider.browser()
    browser.login(customer())
    return browser


def authorize(provider, browser, client):
    request = authorize_url(provider.endpoint("authorization_endpoint"), client.client_id, scope="openid orders:read")
    return code_from(browser.get(request.url), request), request


@live
def test_simultaneous_exchanges_of_one_code_issue_tokens_once(race_provider, trusted_client):
    browser = signed_in_browser(race_provider)
    for _round in range(ROUNDS):
        code, request = authorize(race_provider, browser, trusted_client)
        issued_before = audited(AuditEvent.Type.TOKEN_ISSUED)

        answers = race(
            race_provider.endpoint("token_endpoint"),
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": trusted_client.client_id,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": request.code_verifier,
            },
        )

        tokens = assert_at_most_one_winner(answers)
        assert not tokens or {"access_token", "refresh_token", "id_token"} <= set(tokens)
        # Exactly one exchange redeemed the code and minted tokens.
        assert audited(AuditEvent.Type.TOKEN_ISSUED) - issued_before == 1


@live
def test_simultaneous_refreshes_of_one_refresh_token_issue_tokens_at_most_once(race_provider, trusted_client):
    browser = signed_in_browser(race_provider)
    for _round in range(ROUNDS):
        code, request = authorize(race_provider, browser, trusted_client)
        tokens = request.session.fetch_token(
            race_provider.endpoint("token_endpoint"),
            authorization_response=f"{REDIRECT_URI}?code={code}&state={request.state}",
            code_verifier=request.code_verifier,
        )
        refreshed_before = audited(AuditEvent.Type.TOKEN_REFRESHED)

        answers = race(
            race_provider.endpoint("token_endpoint"),
            {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": trusted_client.client_id,
            },
        )

        assert_at_most_one_winner(answers)
        assert audited(AuditEvent.Type.TOKEN_REFRESHED) - refreshed_before <= 1
        # The replay revoked the family: nothing of it is left alive, whichever request won.
        family = RefreshToken.objects.get(
            token_checksum=hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
        ).token_family
        assert not RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()


# --- The same interleavings, made certain ------------------------------------------------------------
#
# The races above hit the dangerous interleavings only now and then. Here the first exchange
# is held at a chosen point on the server (the live server runs in this process) until a
# replay of the same grant has been answered, so the interleaving happens every time.


def hold_first_call(monkeypatch, method: str, *, before: bool) -> tuple[threading.Event, threading.Event]:
    """Make the first call of ``Validator.<method>`` wait (before or after it runs) for ``release``."""
    original: Callable = getattr(Validator, method)
    reached, release = threading.Event(), threading.Event()
    lock = threading.Lock()

    def held(self, *args, **kwargs):
        with lock:
            is_first = not reached.is_set()
            reached.set()
        if is_first and before:
            release.wait(timeout=30)
        result = original(self, *args, **kwargs)
        if is_first and not before:
            release.wait(timeout=30)
        return result

    monkeypatch.setattr(Validator, method, held)
    return reached, release


def exchange_and_replay(url: str, data: dict, reached: threading.Event, release: threading.Event):
    """POST the grant; once the server holds it, POST it again; then let the first one go on."""
    first: list = []
    thread = threading.Thread(target=lambda: first.append(requests.post(url, data=data, timeout=60)))
    thread.start()
    assert reached.wait(timeout=30), "the first exchange never reached the held point"
    replay = requests.post(url, data=data, timeout=60)
    release.set()
    thread.join(timeout=60)
    assert first, "the first exchange did not answer"
    return first[0], replay


def assert_dead(provider, answer: requests.Response, client_id: str) -> None:
    """Whatever the first exchange answered, nothing it got may work."""
    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code != 200:
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text
        return
    tokens = answer.json()
    assert (
        requests.get(provider.base_url + "/api/me/", headers=bearer(tokens["access_token"]), timeout=30).status_code
        == 401
    )
    again = requests.post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id},
        timeout=30,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def fresh_tokens(provider, browser, client) -> dict:
    code, request = authorize(provider, browser, client)
    return request.session.fetch_token(
        provider.endpoint("token_endpoint"),
        authorization_response=f"{REDIRECT_URI}?code={code}&state={request.state}",
        code_verifier=request.code_verifier,
    )


def signal_second_return(monkeypatch, method: str) -> threading.Event:
    """An event set when the second call of ``Validator.<method>`` has returned."""
    original: Callable = getattr(Validator, method)
    returned = threading.Event()
    calls: list[int] = []
    lock = threading.Lock()

    def watched(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        with lock:
            calls.append(1)
            if len(calls) == 2:
                returned.set()
        return result

    monkeypatch.setattr(Validator, method, watched)
    return returned


@live
def test_a_replay_validated_while_the_first_exchange_holds_its_spend_revokes_the_whole_family(
    race_provider, trusted_client, monkeypatch
):
    """The first exchange has spent the token in its open transaction; a replay has already
    found the token valid (nothing is committed yet) and goes on. Whatever the database makes
    the replay wait for (SQLite: any write; PostgreSQL: the spent row), it fails as a replay
    and the family dies."""
    browser = signed_in_browser(race_provider)
    tokens = fresh_tokens(race_provider, browser, trusted_client)
    replay_validated = signal_second_return(monkeypatch, "validate_refresh_token")
    reached, release = hold_first_call(monkeypatch, "_spend_refresh_token", before=False)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": trusted_client.client_id,
    }
    url = race_provider.endpoint("token_endpoint")

    first: list = []
    first_thread = threading.Thread(target=lambda: first.append(requests.post(url, data=data, timeout=60)))
    first_thread.start()
    assert reached.wait(timeout=30), "the first exchange never spent the token"
    replay: list = []
    replay_thread = threading.Thread(target=lambda: replay.append(requests.post(url, data=data, timeout=60)))
    replay_thread.start()
    assert replay_validated.wait(timeout=30), "the replay never got past validation"
    release.set()
    first_thread.join(timeout=60)
    replay_thread.join(timeout=60)

    assert first and replay, "an exchange did not answer"
    assert replay[0].status_code == 400 and replay[0].json()["error"] == "invalid_grant", replay[0].text
    assert_dead(race_provider, first[0], trusted_client.client_id)
    family = RefreshToken.objects.get(
        token_checksum=hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
    ).token_family
    assert not RefreshToken.objects.filter(token_family=family, revoked__isnull=True).exists()
    assert AuditEvent.objects.filter(event=AuditEvent.Type.TOKEN_REUSE_DETECTED).exists()


@live
@pytest.mark.parametrize("grant", ["authorization_code", "refresh_token"])
def test_a_replay_just_after_tokens_are_saved_is_never_a_server_error(
    race_provider, trusted_client, monkeypatch, grant
):
    browser = signed_in_browser(race_provider)
    if grant == "refresh_token":
        tokens = fresh_tokens(race_provider, browser, trusted_client)
        data = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": trusted_client.client_id,
        }
    else:
        code, request = authorize(race_provider, browser, trusted_client)
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": trusted_client.client_id,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.code_verifier,
        }
    reached, release = hold_first_call(monkeypatch, "save_bearer_token", before=False)

    first, replay = exchange_and_replay(race_provider.endpoint("token_endpoint"), data, reached, release)

    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert_dead(race_provider, first, trusted_client.client_id)
