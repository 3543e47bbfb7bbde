"""Every route of the site. Each one is also declared in permissions/access.py (deny by default)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import api as accounts_api, views as accounts_views
from core import errors, health, schema  # noqa: F401 - schema registers the auth schemes
from oauth import api as oauth_api
from orders import api as orders_api
from permissions import api as permissions_api

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("healthz/", health.healthz, name="healthz"),
    path("readyz/", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("oauth.account_urls")),  # /accounts/apps/ and /accounts/tokens/
    path("o/", include("oauth.urls")),
    path("admin/login/", accounts_views.admin_login_redirect, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/auth/csrf/", accounts_api.CsrfView.as_view(), name="api-csrf"),
    path("api/auth/login/", accounts_api.LoginView.as_view(), name="api-login"),
    path("api/auth/login/2fa/", accounts_api.SecondStepView.as_view(), name="api-login-2fa"),
    path("api/auth/login/2fa/options/", accounts_api.SecondStepOptionsView.as_view(), name="api-login-2fa-options"),
    path("api/auth/login/passkey/", accounts_api.PasskeyLoginView.as_view(), name="api-login-passkey"),
    path(
        "api/auth/login/passkey/options/",
        accounts_api.PasskeyLoginOptionsView.as_view(),
        name="api-login-passkey-options",
    ),
    path("api/auth/reauthenticate/", accounts_api.ReauthenticateView.as_view(), name="api-reauthenticate"),
    path(
        "api/auth/reauthenticate/options/",
        accounts_api.ReauthenticateOptionsView.as_view(),
        name="api-reauthenticate-options",
    ),
    path("api/auth/passkeys/", accounts_api.PasskeyListView.as_view(), name="api-passkeys"),
    path(
        "api/auth/passkeys/options/",
        accounts_api.PasskeyRegistrationOptionsView.as_view(),
        name="api-passkeys-options",
    ),
    path("api/auth/passkeys/<uuid:passkey_id>/", accounts_api.PasskeyDetailView.as_view(), name="api-passkey"),
    path("api/auth/logout/", accounts_api.LogoutView.as_view(), name="api-logout"),
    path("api/me/", permissions_api.MeView.as_view(), name="api-me"),
    path("orders/", include("orders.urls")),
    path("api/orders/", orders_api.OrderListView.as_view(), name="api-orders"),
    path("api/orders/<uuid:order_id>/", orders_api.OrderDetailView.as_view(), name="api-order"),
    path("api/orders/<uuid:order_id>/pay/", orders_api.OrderPayView.as_view(), name="api-order-pay"),
    path("api/orders/<uuid:order_id>/cancel/", orders_api.OrderCancelView.as_view(), name="api-order-cancel"),
    path(
        "api/orders/<uuid:order_id>/refund-requests/",
        orders_api.OrderRefundRequestView.as_view(),
        name="api-order-refund-requests",
    ),
    path("api/refund-requests/", orders_api.RefundRequestListView.as_view(), name="api-refund-requests"),
    path(
        "api/refund-requests/<uuid:refund_id>/", orders_api.RefundRequestDetailView.as_view(), name="api-refund-request"
    ),
    path(
        "api/refund-requests/<uuid:refund_id>/approve/",
        orders_api.RefundRequestApproveView.as_view(),
        name="api-refund-request-approve",
    ),
    path(
        "api/refund-requests/<uuid:refund_id>/reject/",
        orders_api.RefundRequestRejectView.as_view(),
        name="api-refund-request-reject",
    ),
    path("api/users/", permissions_api.UserListView.as_view(), name="api-users"),
    path("api/users/<uuid:user_id>/", permissions_api.UserDetailView.as_view(), name="api-user"),
    path("api/tokens/", oauth_api.PersonalTokenListView.as_view(), name="api-tokens"),
    path("api/tokens/<uuid:token_id>/", oauth_api.PersonalTokenDetailView.as_view(), name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
