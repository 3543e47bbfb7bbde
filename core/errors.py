"""Error responses outside DRF: the site's pages for browsers, the contract's JSON under /api/."""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from core.api import RequestBodyTooLarge, error_body
from core.unavailable import RETRY_AFTER_SECONDS, is_service_outage

logger = logging.getLogger(__name__)

PAGES = {
    400: ("VALIDATION_ERROR", "Bad request", "The request could not be understood."),
    403: ("FORBIDDEN", "Access denied", "You do not have permission to do that."),
    404: ("NOT_FOUND", "Page not found", "There is nothing here, or nothing you may see."),
    429: ("TOO_MANY_REQUESTS", "Too many requests", "Please wait a moment and try again."),
    500: ("SERVER_ERROR", "Something went wrong", "The error was logged. Please try again later."),
    503: ("SERVICE_UNAVAILABLE", "Temporarily unavailable", "Please try again in a few seconds."),
}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def is_oauth(request: HttpRequest) -> bool:
    return request.path.startswith("/o/")


def error_response(
    request: HttpRequest, status: int, message: str | None = None, code: str | None = None
) -> HttpResponse:
    default_code, title, default_message = PAGES[status]
    message = message or default_message
    if is_api(request):
        return JsonResponse(error_body(code or default_code, message), status=status)
    context = {"status": status, "title": title, "message": message}
    if status >= 500:
        # No request context: rendering must not touch the session or the user, which
        # may be exactly what is unavailable.
        return HttpResponse(render_to_string("error.html", context), status=status)
    return render(request, "error.html", context, status=status)


def bad_request(request, exception=None):
    """Django's handler400 (a body it refuses to read, a malformed request).

    The token, introspection and revocation endpoints answer as OAuth says their errors
    look (RFC 6749 section 5.2: JSON, ``invalid_request``): the clients that call them read
    no HTML page.
    """
    message = str(RequestBodyTooLarge().detail) if isinstance(exception, RequestDataTooBig) else None
    if request.path in settings.SESSIONLESS_PATHS:
        response = JsonResponse(
            {"error": "invalid_request", "error_description": message or PAGES[400][2]}, status=400
        )
        response["Cache-Control"] = "no-store"
        return response
    return error_response(request, 400, message)


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else None
    return error_response(request, 403, message)


def page_not_found(request, exception=None):
    return error_response(request, 404, "Not found." if is_api(request) else None)


def server_error(request):
    """Django's handler500: a database or cache outage is a 503 with Retry-After, not a bug."""
    if is_service_outage(sys.exc_info()[1]):
        return service_unavailable(request)
    return error_response(request, 500, "Internal server error." if is_api(request) else None)


def service_unavailable(request) -> HttpResponse:
    message = "The service is temporarily unavailable (a database or cache is unreachable). Try again shortly."
    if is_oauth(request):
        response: HttpResponse = JsonResponse(
            {"error": "temporarily_unavailable", "error_description": message}, status=503
        )
    else:
        response = error_response(request, 503, message)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    logger.error("service unavailable: %s", type(sys.exc_info()[1]).__name__)
    return response


def csrf_failure(request, reason: str = ""):
    if is_api(request):
        return error_response(request, 403, "CSRF verification failed.", code="CSRF_FAILED")
    return error_response(
        request, 403, "The form was stale or was not sent from this site. Reload the page and try again."
    )


def too_many_requests(request, retry_after: int, message: str | None = None, code: str | None = None) -> HttpResponse:
    response = error_response(request, 429, message, code)
    response["Retry-After"] = str(retry_after)
    return response
