"""Health probes for load balancers: no detail beyond a status."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@login_not_required
@require_safe
def healthz(request):
    """The process answers."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_safe
def readyz(request):
    """The database and the cache answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        cache.get("readyz-probe")
    except Exception:
        logger.warning("readiness probe failed", exc_info=True)
        response = JsonResponse({"status": "unavailable"}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"status": "ok"})
