"""Replays across processes: one authorization code or one refresh token spent through A and B at once.

Two simultaneous exchanges are a replay (contract, "OAuth 2 and OpenID Connect"): at most one
gets tokens, every other gets 400 ``invalid_grant``, never a 5xx. The racing requests are
released together by a barrier, one through process A and one through process B, each on a
connection of its own; both processes have two workers, so the requests really overlap in
PostgreSQL.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.services.cluster import describe, release_together
from tests.services.flows import TRUSTED_CLIENT, api_get, authorize, code_exchange, refresh

pytestmark = pytest.mark.services

CODE_ROUNDS = 5
REFRESH_ROUNDS = 3


def assert_replay_outcome(answers) -> dict:
    """At most one 200; every other answer 400 invalid_grant; never a 5xx. The winner's tokens."""
    assert all(answer.status_code < 500 for answer in answers), [describe(a) for a in answers]
    winners = [answer for answer in answers if answer.status_code == 200]
    assert len(winners) <= 1, [describe(a) for a in answers]
    for loser in (answer for answer in answers if answer.status_code != 200):
        assert loser.status_code == 400, describe(loser)
        assert loser.json()["error"] == "invalid_grant", describe(loser)
    return winners[0].json() if winners else {}


def audited(cluster, event: str, user_key: str) -> int:
    return cluster.sql_value(
        "SELECT count(*) FROM accounts_auditevent WHERE event = %s AND actor_id::text = %s AND client_id = %s",
        event,
        cluster.user_id(user_key),
        TRUSTED_CLIENT,
    )


def live_family_members(cluster, refresh_token: str) -> int:
    checksum = hashlib.sha256(refresh_token.encode()).hexdigest()
    return cluster.sql_value(
        "SELECT count(*) FROM oauth2_provider_refreshtoken WHERE revoked IS NULL AND token_family = "
        "(SELECT token_family FROM oauth2_provider_refreshtoken WHERE token_checksum = %s)",
        checksum,
    )


def test_two_simultaneous_exchanges_of_one_code_through_two_processes_issue_tokens_once(
    cluster, server_a, server_b, agents
):
    browser = agents().sign_in(server_a, cluster.email("code-race"), cluster.password)
    for _round in range(CODE_ROUNDS):
        code, request = authorize(browser, server_a, TRUSTED_CLIENT)
        issued_before = audited(cluster, "token_issued", "code-race")

        answers = release_together(
            [
                lambda server=server, code=code, request=request: code_exchange(server, TRUSTED_CLIENT, code, request)
                for server in (server_a, server_b)
            ]
        )

        tokens = assert_replay_outcome(answers)
        assert not tokens or {"access_token", "refresh_token", "id_token"} <= set(tokens), tokens
        # Exactly one of the two exchanges redeemed the code and had tokens minted.
        assert audited(cluster, "token_issued", "code-race") - issued_before == 1


def test_two_simultaneous_refreshes_through_two_processes_then_a_replay_leave_nothing_alive(
    cluster, server_a, server_b, agents
):
    browser = agents().sign_in(server_b, cluster.email("refresh-race"), cluster.password)
    for _round in range(REFRESH_ROUNDS):
        code, request = authorize(browser, server_b, TRUSTED_CLIENT)
        first = code_exchange(server_a, TRUSTED_CLIENT, code, request)
        assert first.status_code == 200, describe(first)
        tokens = first.json()
        assert api_get(server_b, "/api/orders/", tokens["access_token"]).status_code == 200
        refreshed_before = audited(cluster, "token_refreshed", "refresh-race")

        answers = release_together(
            [
                lambda server=server, tokens=tokens: refresh(server, TRUSTED_CLIENT, tokens["refresh_token"])
                for server in (server_a, server_b)
            ]
        )

        winner = assert_replay_outcome(answers)
        assert audited(cluster, "token_refreshed", "refresh-race") - refreshed_before <= 1
        # Replaying the old refresh token fails, and the family is dead: the newest access
        # token (the winner's, if any) is refused by both processes.
        replay = refresh(server_a, TRUSTED_CLIENT, tokens["refresh_token"])
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", describe(replay)
        newest = winner.get("access_token", tokens["access_token"])
        for server in (server_a, server_b):
            answer = api_get(server, "/api/orders/", newest)
            assert answer.status_code == 401 and answer.json()["code"] == "INVALID_TOKEN", describe(answer)
        assert live_family_members(cluster, tokens["refresh_token"]) == 0
        if winner:
            again = refresh(server_b, TRUSTED_CLIENT, winner["refresh_token"])
            assert again.status_code == 400 and again.json()["error"] == "invalid_grant", describe(again)


def test_replaying_a_rotated_refresh_token_through_the_other_process_revokes_the_family(
    cluster, server_a, server_b, agents
):
    browser = agents().sign_in(server_a, cluster.email("refresh-replay"), cluster.password)
    code, request = authorize(browser, server_a, TRUSTED_CLIENT)
    first = code_exchange(server_a, TRUSTED_CLIENT, code, request)
    assert first.status_code == 200, describe(first)
    old = first.json()

    rotated = refresh(server_b, TRUSTED_CLIENT, old["refresh_token"])
    assert rotated.status_code == 200, describe(rotated)
    new = rotated.json()
    assert new["refresh_token"] != old["refresh_token"]
    assert api_get(server_a, "/api/orders/", new["access_token"]).status_code == 200

    replay = refresh(server_a, TRUSTED_CLIENT, old["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", describe(replay)

    # The replay through A revoked the family: B refuses the newest tokens at once.
    answer = api_get(server_b, "/api/orders/", new["access_token"])
    assert answer.status_code == 401 and answer.json()["code"] == "INVALID_TOKEN", describe(answer)
    assert 'error="invalid_token"' in answer.headers.get("WWW-Authenticate", "")
    again = refresh(server_b, TRUSTED_CLIENT, new["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", describe(again)
    assert live_family_members(cluster, old["refresh_token"]) == 0
