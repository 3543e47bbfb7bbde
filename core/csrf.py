"""Django's CSRF protection, with one exception for the OAuth consent page.

The authorization and consent page is served with ``Referrer-Policy: no-referrer`` so its
URL (state, PKCE challenge) never leaks. Under that policy browsers send ``Origin: null``
when the consent form is posted, which Django's origin check rejects. For that one path a
``null`` origin is accepted and the request still has to pass Django's token check (the
form's token against the CSRF cookie, which is SameSite=Lax and so never sent by another
site): a forged cross-site post still fails.
"""

from __future__ import annotations

from django.middleware import csrf
from django.urls import reverse

NULL_ORIGIN_VIEWS = ("oauth2_provider:authorize",)


class CsrfViewMiddleware(csrf.CsrfViewMiddleware):
    # Django's private hook, left out of django-stubs.
    def _origin_verified(self, request) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null" and request.path in {reverse(name) for name in NULL_ORIGIN_VIEWS}:
            return True
        return super()._origin_verified(request)  # type: ignore[misc]
