"""The example domain: orders and the refund requests made for them."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region

MAX_AMOUNT = Decimal("1000000.00")
MIN_AMOUNT = Decimal("0.01")


class Currency(models.TextChoices):
    EUR = "EUR", "Euro"
    USD = "USD", "US dollar"


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Order(models.Model):
    Status = OrderStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    region = models.CharField(max_length=2, choices=Region.choices)
    amount = models.DecimalField(
        max_digits=9, decimal_places=2, validators=[MinValueValidator(MIN_AMOUNT), MaxValueValidator(MAX_AMOUNT)]
    )
    currency = models.CharField(max_length=3, choices=Currency.choices)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        permissions = [
            ("pay_order", "Can pay an order"),
            ("cancel_order", "Can cancel an order"),
            ("request_refund", "Can request a refund of an order"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(amount__lte=MAX_AMOUNT), name="order_amount_range"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(condition=Q(currency__in=Currency.values), name="order_currency_valid"),
            models.CheckConstraint(condition=Q(region__in=Region.values), name="order_region_valid"),
        ]
        # Each serves one list filter of the policy, in the list's own order.
        indexes = [
            models.Index(fields=["owner", "-created_at", "id"], name="order_owner_list"),
            models.Index(fields=["region", "-created_at", "id"], name="order_region_list"),
            models.Index(fields=["-created_at", "id"], name="order_all_list"),
            models.Index(fields=["owner", "status", "-created_at"], name="order_owner_status_list"),
            models.Index(fields=["region", "status", "-created_at"], name="order_region_status_list"),
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.amount} {self.currency}, {self.status})"

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.id])


class RefundRequest(models.Model):
    Status = RefundStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refund_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="refund_requests_made"
    )
    requested_by_client = models.CharField(max_length=100, blank=True)
    reason = models.TextField(max_length=1000)
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refund_requests_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        permissions = [("decide_refund", "Can approve or reject a refund request")]
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="pending"), name="one_pending_refund_per_order"
            ),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="refund_status_valid"),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="refund_decided_at_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(requested_by__isnull=False) | ~Q(requested_by_client=""),
                name="refund_has_requester",
            ),
        ]
        indexes = [models.Index(fields=["order", "-created_at"], name="refund_order_list")]

    def __str__(self) -> str:
        return f"Refund request {self.id} ({self.status})"
