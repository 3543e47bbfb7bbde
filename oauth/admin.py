"""OAuth clients in the Django admin (the same fields and rules as ``register_client``), and
everyone's personal access tokens, which admins see and revoke."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.models import get_application_model

from core.admin import ReadOnlyAdmin
from oauth import services
from oauth.models import ClientPolicy, Consent, PersonalToken
from oauth.registration import validate_redirect_uri, validate_scopes
from permissions.admin_mixins import PolicyAdmin

Application = get_application_model()


class ClientPolicyForm(forms.ModelForm):
    class Meta:
        model = ClientPolicy
        fields = ["scopes", "role", "region", "can_introspect"]

    def clean_scopes(self) -> str:
        scopes = self.cleaned_data["scopes"].split()
        validate_scopes(scopes)
        return " ".join(scopes)


class ClientPolicyInline(admin.StackedInline):
    model = ClientPolicy
    form = ClientPolicyForm
    can_delete = False
    min_num = 1
    max_num = 1


class ApplicationForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = [
            "name",
            "client_id",
            "client_type",
            "authorization_grant_type",
            "client_secret",
            "redirect_uris",
            "post_logout_redirect_uris",
            "skip_authorization",
            "algorithm",
        ]

    def _clean_uris(self, field: str) -> str:
        uris = self.cleaned_data.get(field, "").split()
        errors = []
        for uri in uris:
            try:
                validate_redirect_uri(uri)
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise ValidationError(errors)
        return " ".join(uris)

    def clean_redirect_uris(self) -> str:
        return self._clean_uris("redirect_uris")

    def clean_post_logout_redirect_uris(self) -> str:
        return self._clean_uris("post_logout_redirect_uris")

    def _post_clean(self):
        # DOT's Application.clean() would refuse http loopback URIs (https only in
        # ALLOWED_REDIRECT_URI_SCHEMES); our own rule above admits exactly those.
        opts = self._meta
        self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)
        try:
            self.instance.validate_unique()
        except ValidationError as error:
            self._update_errors(error)  # type: ignore[attr-defined]  # Django's, not in the stubs


admin.site.unregister(Application)


@admin.register(Application)
class ClientAdmin(ApplicationAdmin):
    form = ApplicationForm
    inlines = [ClientPolicyInline]
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "skip_authorization")
    fieldsets = None
    fields = ApplicationForm.Meta.fields


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["user", "application", "scopes", "updated_at"]
    list_select_related = ["user", "application"]


@admin.register(PersonalToken)
class PersonalTokenAdmin(PolicyAdmin):
    """Every person's tokens, read-only; the one change an admin makes is to revoke them.

    Only the key id and the keyed hash are stored: nothing here can show a token's secret.
    """

    list_display = ["name", "owner", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["name", "key_id", "owner__email"]
    fields = (
        "name",
        "owner",
        "prefix",
        "scopes",
        "allowed_ips",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        # The change page is read-only (nothing on it is editable); the list's revoke action
        # needs the permission, and asks it again for each token.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for personal_token in queryset.select_related("owner"):
            # The policy refuses a token that is already revoked (oauth/policy.py).
            if request.user.has_perm("oauth.change_personaltoken", personal_token):
                services.personal_token_revoke(personal_token=personal_token, acting_user=request.user, request=request)
                revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.")
