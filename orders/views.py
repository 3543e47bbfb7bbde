"""Order pages. Buttons appear only for actions the policy allows; every POST is checked anyway."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders import selectors, services
from orders.forms import OrderForm, RefundRequestForm
from orders.models import Order
from permissions.enforce import require

PAGE_SIZE = 20


@require_GET
def order_list(request):
    status = request.GET.get("status") or None
    if status not in (None, *Order.Status.values):
        status = None
    orders = selectors.order_list(fetched_by=request.user, status=status).select_related("owner")
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status or "",
        "statuses": Order.Status.choices,
        "can_create": request.user.has_perm("orders.add_order"),
    }
    return render(request, "orders/list.html", context)


@require_http_methods(["GET", "POST"])
def order_new(request):
    require(request, "orders.add_order")
    form = OrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        order = services.order_create(acting_user=request.user, **form.cleaned_data)
        messages.success(request, "Your order was created.")
        return redirect(order)
    return render(request, "orders/new.html", {"form": form})


@require_GET
def order_detail(request, order_id):
    order = selectors.order_access(fetched_by=request.user, order_id=order_id, request=request)
    refund_requests = selectors.refund_request_list(fetched_by=request.user, order=order).select_related(
        "requested_by", "decided_by"
    )
    context = {"order": order, "refund_requests": refund_requests, "refund_form": RefundRequestForm()}
    return render(request, "orders/detail.html", context)


def _order_action(request, order_id, *, permission: str, service, done: str):
    order = selectors.order_access(fetched_by=request.user, order_id=order_id, perm=permission, request=request)
    service(order=order, acting_user=request.user)
    messages.success(request, done)
    return redirect(order)


@require_POST
def order_pay(request, order_id):
    return _order_action(
        request, order_id, permission="orders.pay_order", service=services.order_pay, done="The order was paid."
    )


@require_POST
def order_cancel(request, order_id):
    return _order_action(
        request,
        order_id,
        permission="orders.cancel_order",
        service=services.order_cancel,
        done="The order was cancelled.",
    )


@require_POST
def order_request_refund(request, order_id):
    order = selectors.order_access(
        fetched_by=request.user, order_id=order_id, perm="orders.request_refund", request=request
    )
    form = RefundRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please give a reason for the refund (up to 1000 characters).")
        return redirect(order)
    services.refund_request_create(order=order, acting_user=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, "The refund was requested.")
    return redirect(order)


@require_POST
def refund_request_decide(request, refund_id, decision: str):
    refund = selectors.refund_request_access(
        fetched_by=request.user, refund_id=refund_id, perm="orders.decide_refund", request=request
    )
    if decision == "approve":
        services.refund_request_approve(refund_request=refund, acting_user=request.user)
        messages.success(request, "The refund was approved; the order is refunded.")
    elif decision == "reject":
        services.refund_request_reject(refund_request=refund, acting_user=request.user)
        messages.success(request, "The refund request was rejected.")
    else:
        raise Http404
    return redirect(refund.order)
