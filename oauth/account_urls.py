from django.urls import path

from oauth import views

app_name = "oauth"

urlpatterns = [
    path("", views.connected_apps, name="apps"),
    path("<int:application_id>/revoke/", views.connected_app_revoke, name="app_revoke"),
]
