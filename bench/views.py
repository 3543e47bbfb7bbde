"""The baselines: plain Django views doing the measured endpoints' work, minus authentication.

Each one runs the same queries as its counterpart (the order lookup or the page of orders,
filtered by owner exactly as ``policy.restrict`` filters a customer's) and returns the same
body (``OrderSerializer``, the same pagination links, the same template), so the difference
the benchmark measures is what authentication and authorization cost.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import InvalidPage, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from rest_framework.utils.urls import remove_query_param, replace_query_param

from accounts.models import User
from orders.models import Order
from orders.serializers import OrderSerializer
from orders.views import PAGE_SIZE as HTML_PAGE_SIZE

if TYPE_CHECKING:
    from django.db.models import QuerySet

API_PAGE_SIZE = 50  # core.api.Pagination's default


def _json(data: dict, status: int = 200) -> HttpResponse:
    """Rendered as DRF's JSONRenderer renders: compact, UTF-8."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body.encode(), status=status, content_type="application/json")


def _not_found() -> HttpResponse:
    return _json({"status": "error", "code": "NOT_FOUND", "message": "Not found."}, status=404)


def _owned_orders(owner_id) -> QuerySet[Order]:
    # The same filter policy.restrict builds for a customer: Q(owner_id=<pk>).
    return Order.objects.all().filter(owner_id=owner_id)


@require_GET
def order_detail(request: HttpRequest, owner_id, order_id) -> HttpResponse:
    """GET /api/orders/<id>/ without a caller: the owner comes from the path."""
    try:
        order = _owned_orders(owner_id).get(pk=order_id)  # get_object_or_404's query
    except Order.DoesNotExist:
        return _not_found()
    return _json(OrderSerializer(order).data)


@require_GET
def order_list(request: HttpRequest, owner_id) -> HttpResponse:
    """GET /api/orders/ without a caller: the same page, count and links."""
    paginator = Paginator(_owned_orders(owner_id), API_PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page", 1))
    except InvalidPage:
        return _not_found()
    # The links point at the real endpoint, so the body is byte for byte the API's.
    url = request.build_absolute_uri(reverse("api-orders") + (f"?{request.GET.urlencode()}" if request.GET else ""))
    next_link = replace_query_param(url, "page", page.next_page_number()) if page.has_next() else None
    previous_link = None
    if page.has_previous():
        number = page.previous_page_number()
        previous_link = remove_query_param(url, "page") if number == 1 else replace_query_param(url, "page", number)
    results = OrderSerializer(page.object_list, many=True).data
    return _json({"count": paginator.count, "next": next_link, "previous": previous_link, "results": results})


@login_not_required
@require_GET
def order_page(request: HttpRequest, owner_id) -> HttpResponse:
    """/orders/ without a session: the owner's row is read by id (the page shows their name)."""
    owner = get_object_or_404(User, pk=owner_id)
    request.user = owner  # for the template's header only; nothing is checked against it
    request.current_app = "orders"  # the template's {% url 'orders:...' %} links point at the site's pages
    orders = _owned_orders(owner_id).select_related("owner")
    page = Paginator(orders, HTML_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "status": "", "statuses": Order.Status.choices, "can_create": True}
    return render(request, "orders/list.html", context)
