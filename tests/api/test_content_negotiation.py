"""The renderer chosen per Accept header: DRF's own choice, kept per header (``core.api.ContentNegotiation``)."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.api import ContentNegotiation
from tests.factories import customer
from tests.support.clients import api_client

pytestmark = pytest.mark.django_db

ACCEPTABLE = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html, application/json;q=0.9",
    "text/html, */*;q=0.8",
]
NOT_ACCEPTABLE = ["text/html", "application/xml", "image/*, text/plain"]


def drf_request(accept: str | None, query: str = "") -> Request:
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    return Request(APIRequestFactory().get(f"/api/orders/{query}", **headers))


def choice(negotiation, request: Request, renderers) -> tuple[type, str] | str:
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except exceptions.NotAcceptable:
        return "406"
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPTABLE + NOT_ACCEPTABLE)
@pytest.mark.parametrize("renderer_classes", [(JSONRenderer,), (JSONRenderer, BrowsableAPIRenderer)])
def test_the_kept_choice_is_drfs_choice(accept, renderer_classes):
    for _ in range(2):  # the first time decides, the second reuses
        ours = choice(ContentNegotiation(), drf_request(accept), [cls() for cls in renderer_classes])
        drfs = choice(DefaultContentNegotiation(), drf_request(accept), [cls() for cls in renderer_classes])
        assert ours == drfs


def test_a_format_in_the_query_is_drfs_to_decide():
    renderers = [JSONRenderer()]
    assert choice(ContentNegotiation(), drf_request("*/*", "?format=json"), renderers)[0] is JSONRenderer
    with pytest.raises(Http404):
        ContentNegotiation().select_renderer(drf_request("*/*", "?format=xml"), renderers)


@pytest.mark.parametrize("accept", ACCEPTABLE)
def test_the_api_answers_json_to_what_accepts_it(accept):
    headers = {"accept": accept} if accept is not None else {}
    response = api_client(customer()).get("/api/orders/", headers=headers)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("accept", NOT_ACCEPTABLE)
def test_the_api_refuses_what_accepts_no_json_with_406(accept):
    response = api_client(customer()).get("/api/orders/", headers={"accept": accept})

    assert response.status_code == 406
    body = response.json()
    assert (body["status"], body["code"]) == ("error", "NOT_ACCEPTABLE")
