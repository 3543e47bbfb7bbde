from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("new/", views.order_new, name="new"),
    path("<uuid:order_id>/", views.order_detail, name="detail"),
    path("<uuid:order_id>/pay/", views.order_pay, name="pay"),
    path("<uuid:order_id>/cancel/", views.order_cancel, name="cancel"),
    path("<uuid:order_id>/refund-requests/", views.order_request_refund, name="request_refund"),
    path(
        "refund-requests/<uuid:refund_id>/approve/",
        views.refund_request_decide,
        {"decision": "approve"},
        name="approve",
    ),
    path(
        "refund-requests/<uuid:refund_id>/reject/", views.refund_request_decide, {"decision": "reject"}, name="reject"
    ),
]
