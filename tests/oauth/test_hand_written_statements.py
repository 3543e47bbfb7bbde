"""core.rows: the token endpoint's hand-written statements give what the ORM gives, on both profiles."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.models import User
from core import rows
from tests.factories import customer

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()

pytestmark = pytest.mark.django_db


def concrete_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def refresh_token_row(alice, application) -> RefreshToken:
    access_token = AccessToken.objects.create(
        user=alice, application=application, scope="openid", token="a" * 40,
        expires=timezone.now() + timedelta(minutes=5),
    )
    refresh_token = RefreshToken(
        user=alice, application=application, access_token=access_token,
        token_family=uuid.uuid4(), resource=["https://api.example.test/"], token="r" * 40,
    )
    rows.insert(refresh_token)
    return refresh_token


def test_a_row_written_by_insert_reads_back_as_the_orm_reads_it(public_client):
    """Datetimes (text on SQLite), a UUID, JSON, foreign keys, and the key read back."""
    refresh_token = refresh_token_row(customer(), public_client.application)
    assert refresh_token.pk is not None and not refresh_token._state.adding

    sql = f"SELECT {rows.columns(RefreshToken, 'rt')} FROM {rows.table(RefreshToken)} rt WHERE rt.id = %s"
    from_rows = rows.instance_from(RefreshToken, "rt", rows.fetch_one(sql, [refresh_token.pk]))
    from_orm = RefreshToken.objects.get(pk=refresh_token.pk)
    assert concrete_values(from_rows) == concrete_values(from_orm)
    assert isinstance(from_rows.token_family, uuid.UUID)
    assert from_rows.resource == ["https://api.example.test/"]
    assert from_rows.created.tzinfo is not None and not from_rows._state.adding


def test_a_left_join_that_found_no_row_gives_none_and_the_joined_side_is_whole():
    alice = customer()
    sql = (
        f"SELECT {rows.columns(User, 'u')}, {rows.columns(AccessToken, 'at')} FROM {rows.table(User)} u "
        f"LEFT OUTER JOIN {rows.table(AccessToken)} at ON at.{rows.column(AccessToken, 'user')} = u.id "
        f"WHERE u.{rows.column(User, 'email')} = %s"
    )
    row = rows.fetch_one(sql, [alice.email])
    user = rows.instance_from(User, "u", row)
    assert concrete_values(user) == concrete_values(User.objects.get(pk=alice.pk))
    assert rows.joined_instance_from(AccessToken, "at", row, rows.width(User)) is None


def test_of_two_claims_of_a_row_only_the_first_changes_it(public_client):
    """The spend of a refresh token: the rowcount tells the one writer that won."""
    refresh_token = refresh_token_row(customer(), public_client.application)
    spend = rows.claim_sql(RefreshToken, "revoked", by="id", also=("access_token",))
    revoked = RefreshToken._meta.get_field("revoked").get_db_prep_save(timezone.now(), connection)
    counts = []
    for _attempt in range(2):
        with connection.cursor() as cursor:
            cursor.execute(spend, [revoked, None, refresh_token.pk])
            counts.append(cursor.rowcount)
    assert counts == [1, 0]
    refresh_token.refresh_from_db()
    assert refresh_token.revoked is not None and refresh_token.access_token_id is None

    with connection.cursor() as cursor:
        cursor.execute(rows.delete_sql(AccessToken), [AccessToken.objects.get().pk])
    assert not AccessToken.objects.exists()
