"""The bare views measured in both projects, and the stock bearer-protected view.

``plain`` is the very same function in this project (``bench/urls.py``, marked
``login_not_required``, which stock Django ignores) and in the stock project, so their ratio
is what each project's request stack costs around one view that does nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from oauth2_provider.views.generic import ProtectedResourceView

BODY = {"status": "ok"}


@require_GET
def plain(request: HttpRequest) -> JsonResponse:
    """No authentication, no query: the request stack's floor."""
    return JsonResponse(BODY)


class BearerView(ProtectedResourceView):
    """DOT's own bearer protection (any valid token), answering what ``plain`` answers."""

    def get(self, request, *args, **kwargs):
        return JsonResponse(BODY)
