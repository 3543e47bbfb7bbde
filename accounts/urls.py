from django.urls import path

from accounts import factor_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/2fa/", factor_views.login_second_step_view, name="login_2fa"),
    path("logout/", views.logout_view, name="logout"),
    path("reauthenticate/", factor_views.reauthenticate_view, name="reauthenticate"),
    path("security/", factor_views.security_view, name="security"),
    path("2fa/totp/", factor_views.totp_view, name="totp"),
    path("2fa/recovery-codes/", factor_views.recovery_codes_view, name="recovery_codes"),
    path("passkeys/", factor_views.passkeys_view, name="passkeys"),
    path("passkeys/<uuid:passkey_id>/rename/", factor_views.passkey_rename_view, name="passkey_rename"),
    path("passkeys/<uuid:passkey_id>/remove/", factor_views.passkey_remove_view, name="passkey_remove"),
    path("register/", views.register_view, name="register"),
    path("profile/", views.profile_view, name="profile"),
    path("password/change/", views.password_change_view, name="password_change"),
    path("password/reset/", views.password_reset_view, name="password_reset"),
    path("password/reset/sent/", views.password_reset_done_view, name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", views.password_reset_confirm_view, name="password_reset_confirm"),
    path("password/reset/complete/", views.password_reset_complete_view, name="password_reset_complete"),
    path("email/confirm/send/", views.email_confirm_send_view, name="email_confirm_send"),
    path("email/confirm/<str:token>/", views.email_confirm_view, name="email_confirm"),
    path("sessions/", views.sessions_view, name="sessions"),
    path("sessions/others/revoke/", views.session_revoke_others_view, name="session_revoke_others"),
    path("sessions/<uuid:session_id>/revoke/", views.session_revoke_view, name="session_revoke"),
]
