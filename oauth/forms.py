"""The personal access token form of ``/accounts/tokens/``."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings

from oauth import personal_tokens
from permissions.scopes import catalogue


class PersonalTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “nightly export”.")
    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, help_text="What the token may do: never more than you may do yourself."
    )
    expires_in_days = forms.IntegerField()  # replaced in __init__: its maximum is a setting
    allowed_ips = forms.CharField(
        label="Allowed IP addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: CIDR networks or single addresses (IPv4 or IPv6), one per line. Empty: any address.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        scopes = self.fields["scopes"]
        assert isinstance(scopes, forms.ChoiceField)
        scopes.choices = [(name, f"{name}: {scope.description}") for name, scope in catalogue().items()]
        self.fields["expires_in_days"] = forms.IntegerField(
            label="Expires in (days)",
            min_value=1,
            max_value=settings.PAT_MAX_DAYS,
            initial=30,
            help_text=f"From 1 to {settings.PAT_MAX_DAYS}.",
        )
        self.order_fields(["name", "scopes", "expires_in_days", "allowed_ips"])

    def clean_allowed_ips(self) -> list[str]:
        return personal_tokens.clean_networks(
            [value for value in re.split(r"[\s,]+", self.cleaned_data["allowed_ips"]) if value]
        )
