from __future__ import annotations

from rest_framework import serializers

from core.api import StrictSerializerMixin
from orders.models import MAX_AMOUNT, MIN_AMOUNT, Currency, Order, RefundRequest


class OrderSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner_id", read_only=True)

    class Meta:
        model = Order
        fields = ["id", "owner", "region", "amount", "currency", "status", "created_at"]
        read_only_fields = fields


class OrderCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    amount = serializers.DecimalField(max_digits=9, decimal_places=2, min_value=MIN_AMOUNT, max_value=MAX_AMOUNT)
    currency = serializers.ChoiceField(choices=Currency.choices)


class RefundRequestSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order_id", read_only=True)
    requested_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = RefundRequest
        fields = ["id", "order", "requested_by", "requested_by_client", "status", "decided_by", "reason", "created_at"]
        read_only_fields = fields

    def get_requested_by(self, obj: RefundRequest) -> str | None:
        return str(obj.requested_by_id) if obj.requested_by_id else None

    def get_decided_by(self, obj: RefundRequest) -> str | None:
        return str(obj.decided_by_id) if obj.decided_by_id else None


class RefundRequestCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=1000)
