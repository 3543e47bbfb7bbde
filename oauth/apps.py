from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "OAuth clients and consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.rules import registry
        from oauth import policy, token_cache

        token_cache.connect()
        registry.register(permissions=policy.PERMISSIONS, scopes=policy.SCOPES)
