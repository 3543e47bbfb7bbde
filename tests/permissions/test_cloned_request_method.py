"""DRF checks permissions for another method on a clone of the request (``clone_request``: its
OPTIONS metadata and browsable API do). The checks must decide for the clone's method, not for
the method the client sent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import RequestFactory
from rest_framework.request import Request, clone_request

from accounts.reauth import ReauthenticationRequired, RecentAuthentication
from permissions.drf import InsufficientScope, TokenScope
from tests.factories import customer


def sent_as(method: str, *, auth=None, user=None) -> Request:
    django_request = getattr(RequestFactory(), method.lower())("/api/things/")
    django_request.session = {}  # no sign-in or step-up recorded: nothing is recent
    request = Request(django_request)
    request._auth, request._user = auth, user
    return request


def test_the_token_scope_is_checked_for_the_clones_method():
    view = SimpleNamespace(token_scopes={"GET": "things:read", "POST": "things:write"})
    read_only = SimpleNamespace(scope="things:read")
    options = sent_as("OPTIONS", auth=read_only)

    assert TokenScope().has_permission(options, view)
    with pytest.raises(InsufficientScope):
        TokenScope().has_permission(clone_request(options, "POST"), view)


@pytest.mark.django_db
def test_a_recent_authentication_is_asked_for_the_clones_method():
    view = SimpleNamespace(reauth_methods=("POST",))
    options = sent_as("OPTIONS", user=customer())

    assert RecentAuthentication().has_permission(options, view)
    with pytest.raises(ReauthenticationRequired):
        RecentAuthentication().has_permission(clone_request(options, "POST"), view)
