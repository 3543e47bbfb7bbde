from __future__ import annotations

import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import StrictSerializerMixin
from orders.models import MAX_AMOUNT, MIN_AMOUNT, Currency, Order, RefundRequest

# A decimal string from 0.01 to 1000000.00 with at most two decimals and no leading zero,
# in ASCII digits: exactly what AmountField takes, so the schema can say it as a pattern.
AMOUNT_PATTERN = r"^(?:1000000(?:\.0{1,2})?|[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"
assert MIN_AMOUNT == Decimal("0.01") and MAX_AMOUNT == Decimal("1000000.00"), "AMOUNT_PATTERN spells these bounds out"


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "12.50"})
class AmountField(serializers.DecimalField):
    """The contract's amount: a decimal string. Not a JSON number, an exponent or other digits."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=9, decimal_places=2, min_value=MIN_AMOUNT, max_value=MAX_AMOUNT, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and re.fullmatch(AMOUNT_PATTERN, data):
            return super().to_internal_value(data)
        if isinstance(data, str) and re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", data):
            # A plain number the pattern refuses: let DRF's own message say why (too many
            # decimals, out of range); a leading zero that DRF would take is still refused below.
            self.run_validators(super().to_internal_value(data))
        self.fail("invalid")


class OrderSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner_id", read_only=True)

    class Meta:
        model = Order
        fields = ["id", "owner", "region", "amount", "currency", "status", "created_at"]
        read_only_fields = fields


class OrderCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    amount = AmountField()
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
