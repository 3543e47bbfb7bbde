"""django-oauth-toolkit's scopes backend, read from the scope catalogue the apps declare."""

from __future__ import annotations

from oauth2_provider.scopes import BaseScopes

from permissions.scopes import catalogue


class CatalogueScopes(BaseScopes):
    """Each client may ask only for its registered scopes; discovery lists the whole catalogue."""

    def get_all_scopes(self) -> dict[str, str]:
        return {name: scope.description for name, scope in catalogue().items()}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        if application is None:
            return list(catalogue())
        policy = getattr(application, "client_policy", None)
        if policy is None:
            return []
        known = catalogue()
        return [name for name in policy.scope_list if name in known]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        available = self.get_available_scopes(application, request)
        return ["openid"] if "openid" in available else available[:1]
