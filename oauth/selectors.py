"""Reads of personal access tokens: a person only ever sees their own."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from oauth.models import PersonalToken


def personal_token_list(*, fetched_by: User) -> QuerySet[PersonalToken]:
    """The caller's tokens that are not revoked (expired ones too: they say when), newest first."""
    return PersonalToken.objects.filter(owner=fetched_by, revoked_at__isnull=True).order_by("-created_at", "id")


def personal_token_get(*, fetched_by: User, token_id) -> PersonalToken:
    """One of the caller's live tokens; anyone else's, a revoked one or none at all is a 404."""
    return get_object_or_404(personal_token_list(fetched_by=fetched_by), pk=token_id)
