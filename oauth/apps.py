from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "OAuth clients and consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import credentials_revoked
        from core.rules import registry
        from oauth import policy, token_cache, tokens

        token_cache.connect()
        credentials_revoked.connect(tokens.on_credentials_revoked, dispatch_uid="oauth.revoke_tokens")
        registry.register(permissions=policy.PERMISSIONS, scopes=policy.SCOPES)
