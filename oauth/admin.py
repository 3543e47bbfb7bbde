"""OAuth clients in the Django admin: the same fields and rules as ``register_client``."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.models import get_application_model

from core.admin import ReadOnlyAdmin
from oauth.models import ClientPolicy, Consent
from oauth.registration import validate_redirect_uri, validate_scopes

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
