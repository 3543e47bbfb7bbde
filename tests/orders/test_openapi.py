"""The OpenAPI document and its documentation page (no inline script, nothing from a CDN)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

pytestmark = pytest.mark.django_db

ORDER_PATHS = {
    "/api/orders/",
    "/api/orders/{order_id}/",
    "/api/orders/{order_id}/pay/",
    "/api/orders/{order_id}/cancel/",
    "/api/orders/{order_id}/refund-requests/",
    "/api/refund-requests/",
    "/api/refund-requests/{refund_id}/",
    "/api/refund-requests/{refund_id}/approve/",
    "/api/refund-requests/{refund_id}/reject/",
}


def test_schema_is_an_openapi_3_document_listing_the_order_paths(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert ORDER_PATHS <= set(document["paths"])
    assert {"get", "post"} <= set(document["paths"]["/api/orders/"])
    assert "post" in document["paths"]["/api/orders/{order_id}/pay/"]
    assert {"get", "patch", "delete"} <= set(document["paths"]["/api/users/{user_id}/"])


def test_schema_in_yaml_by_default(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    body = response.content.decode()
    assert re.match(r"openapi: ['\"]?3\.", body)
    assert "/api/orders/{order_id}/:" in body


class Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []
        self.urls: list[str] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "script":
            self._open = {"src": attrs.get("src"), "body": ""}
            self.scripts.append(self._open)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["body"] += data


def is_same_origin_path(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


def test_docs_page_runs_no_inline_script_and_loads_nothing_from_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    parsed = Scripts()
    parsed.feed(html)
    assert parsed.scripts, "the page loads Swagger UI"
    for script in parsed.scripts:
        assert script["src"], "an inline <script> needs 'unsafe-inline'"
        assert script["body"].strip() == "", "a <script src> has no inline body"
    assert not re.search(r"https?://|//cdn|jsdelivr|unpkg|cdnjs", html), "nothing is loaded from another origin"
    assert all(is_same_origin_path(url) for url in parsed.urls), parsed.urls
    # Swagger UI itself comes from the static files (drf-spectacular-sidecar).
    library = [s["src"] for s in parsed.scripts if "swagger-ui" in s["src"]]
    assert library and all(src.startswith("/static/") for src in library)
    # Every script is served by this site, as JavaScript, and pulls nothing from elsewhere either.
    for script in parsed.scripts:
        served = client.get(script["src"])
        assert served.status_code == 200, script["src"]
        assert "javascript" in served["Content-Type"], (script["src"], served["Content-Type"])
        if not script["src"].startswith("/static/"):
            # The initialiser drf-spectacular serves beside the page (SpectacularSwaggerSplitView):
            # same origin, so CSP's script-src 'self' allows it.
            assert script["src"].startswith("/api/docs/?")
            body = b"".join(served.streaming_content) if served.streaming else served.content
            assert not re.search(rb"https?://", body)


def test_docs_page_csp_forbids_inline_scripts(client):
    response = client.get("/api/docs/")
    csp = response["Content-Security-Policy"]
    script_src = re.search(r"script-src([^;]*)", csp) or re.search(r"default-src([^;]*)", csp)
    assert script_src is not None
    assert "'unsafe-inline'" not in script_src.group(1)
    assert "'self'" in script_src.group(1)


# --- The schema tells the truth about errors and request bodies ------------------------------

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", method, path, operation


def test_every_operation_documents_its_error_responses_with_the_envelope(client):
    document = client.get("/api/schema/?format=json").json()
    schemas = document["components"]["schemas"]
    error = schemas["Error"]

    def enum(prop: dict) -> list:
        return prop["enum"] if "enum" in prop else schemas[prop["$ref"].rsplit("/", 1)[1]]["enum"]

    assert error["required"] == ["status", "code", "message"]
    assert error["additionalProperties"] is False
    assert enum(error["properties"]["status"]) == ["error"]
    assert {
        "VALIDATION_ERROR",
        "NOT_AUTHENTICATED",
        "INVALID_TOKEN",
        "FORBIDDEN",
        "INSUFFICIENT_SCOPE",
        "CSRF_FAILED",
        "NOT_FOUND",
        "UNSUPPORTED_MEDIA_TYPE",
        "TOO_MANY_LOGIN_ATTEMPTS",
        "SERVICE_UNAVAILABLE",
    } <= set(enum(error["properties"]["code"]))
    for label, method, path, operation in operations(document):
        errors = {code for code in operation["responses"] if code >= "400"}
        expected = {"401", "503"}
        if method != "get":
            expected |= {"403"}
        if method == "post" or "requestBody" in operation:
            expected |= {"415"}
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected |= {"400"}
        if "{" in path:
            expected |= {"404"}
        assert expected <= errors, (label, sorted(errors))
        for code in errors:
            content = operation["responses"][code]["content"]
            assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (label, code)
    responses = {label: set(op["responses"]) for label, _, _, op in operations(document)}
    assert "429" in responses["POST /api/auth/login/"]
    assert {"403", "404"} <= responses["GET /api/orders/"]  # a token without orders:read; a page past the end
    assert "403" not in responses["GET /api/me/"]  # any valid token, any signed-in user


def test_every_request_body_refuses_unknown_properties_and_says_what_the_server_refuses(client):
    document = client.get("/api/schema/?format=json").json()
    schemas = document["components"]["schemas"]
    bodies = 0
    for label, _, _, operation in operations(document):
        if "requestBody" not in operation:
            continue
        bodies += 1
        assert operation["requestBody"]["required"] is True, label
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert schemas[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, label
    # login, its second step, step-up, orders, refund requests, PATCH users, personal tokens,
    # passkey sign-in, adding and renaming a passkey
    assert bodies == 10
    token = schemas["PersonalTokenCreate"]["properties"]
    assert token["expires_in_days"]["minimum"] == 1 and token["expires_in_days"]["maximum"] == 365
    assert token["scopes"]["minItems"] == 1 and "orders:read" in schemas["ScopesEnum"]["enum"]
    password = schemas["Login"]["properties"]["password"]
    assert password["minLength"] == 1 and password["pattern"] == "^[^\\u0000]*$"
    reason = schemas["RefundRequestCreate"]["properties"]["reason"]
    assert reason["minLength"] == 1 and "\\u0020" in reason["pattern"]
    assert schemas["PatchedUserUpdate"]["minProperties"] == 1
    assert schemas["OrderCreate"]["properties"]["amount"]["type"] == "string"
    orders = document["paths"]["/api/orders/"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("minimum") for p in orders if p["name"].startswith("page")} == {
        "page": 1,
        "page_size": 1,
    }
    assert next(p for p in orders if p["name"] == "status")["schema"]["enum"]
