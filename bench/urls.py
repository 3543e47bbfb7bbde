"""Every route of the site, plus the baselines the benchmark compares them with.

The baselines do the same work as the measured endpoints (the same queries, the same
serializer or template) with no authentication and no policy: the owner whose orders they
show is named in the path. They are mounted only under ``bench.settings``.
"""

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from bench import views
from bench.stock.views import plain
from config.urls import handler400, handler403, handler404, handler500, urlpatterns as site_urlpatterns  # noqa: F401

# The page is mounted with the app name "orders", like /orders/, so the navigation marks
# the same section and the HTML is the same.
baseline_pages = ([path("customers/<uuid:owner_id>/orders/", views.order_page, name="list")], "orders")

urlpatterns = [
    # The bare view heads this URLconf as it heads the stock project's (bench/stock/urls.py): the
    # comparison of the two is about the middleware stacks, not about how many of the site's
    # routes are tried before /plain/ (about 40 here, some 15 µs per request).
    path("plain/", login_not_required(plain), name="bench-plain"),
    *site_urlpatterns,
    # Under /api/ like the measured endpoints, so the same middleware treats them the same way.
    path("api/baseline/customers/<uuid:owner_id>/orders/", views.order_list, name="bench-baseline-orders"),
    path(
        "api/baseline/customers/<uuid:owner_id>/orders/<uuid:order_id>/",
        views.order_detail,
        name="bench-baseline-order",
    ),
    path("baseline/", include(baseline_pages, namespace="bench-baseline")),
]
