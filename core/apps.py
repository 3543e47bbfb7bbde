from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: the API's error envelope, pagination, strict serializers, outage
    detection, site-wide middleware, health probes. It imports no app of this project."""

    name = "core"
    verbose_name = "Shared plumbing"
