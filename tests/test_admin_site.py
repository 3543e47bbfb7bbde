"""The Django admin: the admin role only, signed in through the site's own login page."""

from __future__ import annotations

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, get_application_model

from accounts.models import AuditEvent, Role, UserSession
from oauth.registration import register_client
from tests.factories import PASSWORD, admin, customer, manager
from tests.support.oauth import REDIRECT_URI, mint_token
from tests.support.sign_in import finish_page_login

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    response = finish_page_login(client, user, response)
    assert response.status_code == 302
    return client


def test_admin_login_goes_through_the_site_login_page(client):
    response = client.get("/admin/", follow=False)
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_admin_role_reaches_the_admin_and_others_get_403_without_a_loop():
    assert signed_in(admin()).get("/admin/").status_code == 200
    for user in (customer(), manager()):
        response = signed_in(user).get("/admin/", follow=True)
        assert response.status_code == 403
        assert len(response.redirect_chain) <= 2


def test_admin_changes_a_role_through_the_service_and_it_is_audited():
    ada, alice = admin(), customer()
    client = signed_in(ada)
    response = client.post(
        f"/admin/accounts/user/{alice.pk}/change/", {"role": "manager", "region": "EU", "is_active": "on"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.role == Role.MANAGER
    assert AuditEvent.objects.filter(event="role_changed", actor=ada, target=f"user:{alice.pk}").exists()


def test_admin_cannot_edit_own_account_in_the_admin():
    ada = admin()
    client = signed_in(ada)
    response = client.post(
        f"/admin/accounts/user/{ada.pk}/change/", {"role": "customer", "region": "EU", "is_active": ""}
    )
    assert response.status_code == 403
    ada.refresh_from_db()
    assert ada.role == Role.ADMIN and ada.is_active


def test_admin_logout_removes_the_session_from_the_sessions_page():
    ada = admin()
    client = signed_in(ada)
    assert UserSession.objects.filter(user=ada).count() == 1
    assert client.post("/admin/logout/").status_code in (200, 302)
    assert UserSession.objects.filter(user=ada).count() == 0


def test_the_admins_change_password_is_the_sites_page_which_revokes_tokens_and_audits():
    """Django's stock view changed the password and kept every token, without audit or throttle."""
    ada = admin()
    register_client(
        name="App", client_type="public", grant="authorization-code", scopes=["openid"],
        redirect_uris=[REDIRECT_URI], client_id="admin-pw-app",
    )
    mint_token(ada, get_application_model().objects.get(client_id="admin-pw-app"), "openid")
    client = signed_in(ada)
    new_password = "a completely new admin passphrase"
    stock_form = {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password}

    # The admin's link leads to the site's page; the stock form is neither shown nor accepted.
    assert 'href="/admin/password_change/"' in client.get("/admin/").text
    assert client.get("/admin/password_change/")["Location"] == "/accounts/password/change/"
    refused = client.post("/admin/password_change/", stock_form)
    assert (refused.status_code, refused["Location"]) == (302, "/accounts/password/change/")
    assert client.get("/admin/password_change/done/")["Location"] == "/accounts/profile/"
    ada.refresh_from_db()
    assert ada.check_password(PASSWORD) and AccessToken.objects.filter(user=ada).exists()

    # The site's page changes it, revokes the tokens and writes the audit row.
    assert client.post("/accounts/password/change/", stock_form).status_code == 302
    ada.refresh_from_db()
    assert ada.check_password(new_password)
    assert not AccessToken.objects.filter(user=ada).exists()
    assert AuditEvent.objects.filter(event="password_changed", actor=ada).exists()
