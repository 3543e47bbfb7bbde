from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.rules import registry
        from orders import policy

        registry.register(permissions=policy.PERMISSIONS, scopes=policy.SCOPES)
