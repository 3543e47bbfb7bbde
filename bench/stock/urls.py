"""The stock project's routes: DOT's endpoints at /o/, the bare view and a bearer-protected one."""

from django.urls import include, path

from bench.stock import views

urlpatterns = [
    path("plain/", views.plain, name="plain"),  # first, as in bench/urls.py
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("bearer/", views.BearerView.as_view(), name="bearer"),
]
