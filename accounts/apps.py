from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from accounts import mail, policy, sessions
        from core.rules import registry

        # Whoever signs a browser out (our views, the admin, OIDC RP-initiated logout),
        # its entry leaves the sessions page with it.
        user_logged_out.connect(sessions.forget_on_logout, dispatch_uid="accounts.forget_session")
        # accounts.login.sign_in stamps last_login itself, with one UPDATE of that column in the
        # sign-in's transaction, instead of django.contrib.auth's receiver (a whole model save
        # with its pre_save and post_save signals). django.contrib.auth is ready before us.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        registry.register(permissions=policy.PERMISSIONS)
        # Mail is sent after the response: the queue opens and drains with each request.
        mail.connect_to_requests()
