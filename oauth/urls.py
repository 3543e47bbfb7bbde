"""The provider under /o/: only the endpoints this project serves (no device grant, no
dynamic registration, no DOT management pages). The namespace stays DOT's own, which
DOT uses to build the discovery document."""

from django.urls import path, re_path
from oauth2_provider import views as dot_views

from oauth import views

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", views.IntrospectView.as_view(), name="introspect"),
    re_path(
        r"^\.well-known/openid-configuration/?$", views.DiscoveryView.as_view(), name="oidc-connect-discovery-info"
    ),
    path(".well-known/oauth-authorization-server", views.ServerMetadataView.as_view(), name="oauth-server-metadata"),
    path(".well-known/jwks.json", dot_views.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", views.UserInfoView.as_view(), name="user-info"),
    path("logout/", views.LogoutView.as_view(), name="rp-initiated-logout"),
]
