from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from accounts import mail, policy, sessions
        from core.rules import registry

        # Whoever signs a browser out (our views, the admin, OIDC RP-initiated logout),
        # its entry leaves the sessions page with it.
        user_logged_out.connect(sessions.forget_on_logout, dispatch_uid="accounts.forget_session")
        registry.register(permissions=policy.PERMISSIONS)
        # Mail is sent after the response: the queue opens and drains with each request.
        mail.connect_to_requests()
