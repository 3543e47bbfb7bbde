"""The orders JSON API. Checks run in the contract's order: authentication, scope,
object lookup through the policy (404), then the action (403)."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.models import Order, RefundRequest
from orders.policy import READ_SCOPE, WRITE_SCOPE
from orders.serializers import (
    OrderCreateSerializer,
    OrderSerializer,
    RefundRequestCreateSerializer,
    RefundRequestSerializer,
)
from permissions.enforce import require

ORDER_SCOPES = {"GET": READ_SCOPE, "POST": WRITE_SCOPE}


def status_filter(request, choices: list[str]) -> str | None:
    value = request.query_params.get("status")
    if value is None:
        return None
    if value not in choices:
        raise exceptions.ValidationError({"status": [f"Must be one of: {', '.join(choices)}."]})
    return value


def status_parameter(choices: list[str]) -> OpenApiParameter:
    return OpenApiParameter("status", str, enum=choices, description="Only objects in this status.")


def order_access(request, order_id, perm: str = "orders.view_order") -> Order:
    return selectors.order_access(fetched_by=request.user, order_id=order_id, perm=perm, request=request._request)


def refund_request_access(request, refund_id, perm: str = "orders.view_refundrequest") -> RefundRequest:
    return selectors.refund_request_access(
        fetched_by=request.user, refund_id=refund_id, perm=perm, request=request._request
    )


class OrderListView(generics.ListAPIView):
    token_scopes = ORDER_SCOPES

    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.order_list(
            fetched_by=self.request.user, status=status_filter(self.request, Order.Status.values)
        )

    @extend_schema(parameters=[status_parameter(Order.Status.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer})
    def post(self, request):
        require(request, "orders.add_order")
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.order_create(acting_user=request.user, **serializer.validated_data)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetailView(APIView):
    token_scopes = ORDER_SCOPES

    @extend_schema(request=None, responses=OrderSerializer)
    def get(self, request, order_id):
        return Response(OrderSerializer(order_access(request, order_id)).data)


class OrderActionView(APIView):
    """POST /api/orders/<id>/pay/ and .../cancel/: look up through the policy, check, act."""

    token_scopes = ORDER_SCOPES
    permission: str = ""
    service: Callable[..., Order]  # set by each subclass

    @extend_schema(request=None, responses=OrderSerializer)
    def post(self, request, order_id):
        order = order_access(request, order_id, self.permission)
        return Response(OrderSerializer(self.service(order=order, acting_user=request.user)).data)


class OrderPayView(OrderActionView):
    permission = "orders.pay_order"
    service = staticmethod(services.order_pay)


class OrderCancelView(OrderActionView):
    permission = "orders.cancel_order"
    service = staticmethod(services.order_cancel)


class OrderRefundRequestView(APIView):
    token_scopes = ORDER_SCOPES

    @extend_schema(request=RefundRequestCreateSerializer, responses={201: RefundRequestSerializer})
    def post(self, request, order_id):
        order = order_access(request, order_id, "orders.request_refund")
        serializer = RefundRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund = services.refund_request_create(order=order, acting_user=request.user, **serializer.validated_data)
        return Response(RefundRequestSerializer(refund).data, status=status.HTTP_201_CREATED)


class RefundRequestListView(generics.ListAPIView):
    token_scopes = ORDER_SCOPES

    serializer_class = RefundRequestSerializer

    def get_queryset(self):
        return selectors.refund_request_list(
            fetched_by=self.request.user, status=status_filter(self.request, RefundRequest.Status.values)
        )

    @extend_schema(parameters=[status_parameter(RefundRequest.Status.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RefundRequestDetailView(APIView):
    token_scopes = ORDER_SCOPES

    @extend_schema(request=None, responses=RefundRequestSerializer)
    def get(self, request, refund_id):
        return Response(RefundRequestSerializer(refund_request_access(request, refund_id)).data)


class RefundRequestDecisionView(APIView):
    """POST /api/refund-requests/<id>/approve/ and .../reject/."""

    token_scopes = ORDER_SCOPES
    service: Callable[..., RefundRequest]  # set by each subclass

    @extend_schema(request=None, responses=RefundRequestSerializer)
    def post(self, request, refund_id):
        refund = refund_request_access(request, refund_id, "orders.decide_refund")
        refund = self.service(refund_request=refund, acting_user=request.user)
        return Response(RefundRequestSerializer(refund).data)


class RefundRequestApproveView(RefundRequestDecisionView):
    service = staticmethod(services.refund_request_approve)


class RefundRequestRejectView(RefundRequestDecisionView):
    service = staticmethod(services.refund_request_reject)
