from django.urls import path

from oauth import views

app_name = "oauth"

# Mounted at /accounts/ beside accounts.urls (config/urls.py).
urlpatterns = [
    path("apps/", views.connected_apps, name="apps"),
    path("apps/<int:application_id>/revoke/", views.connected_app_revoke, name="app_revoke"),
    path("tokens/", views.personal_tokens_page, name="tokens"),
    path("tokens/<uuid:token_id>/revoke/", views.personal_token_revoke, name="token_revoke"),
]
