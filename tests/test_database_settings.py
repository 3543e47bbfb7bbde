"""PostgreSQL binds the parameters and prepares the statements a connection repeats (config/settings.py).

Django's default binds parameters in the client and prepares nothing, so PostgreSQL parses and
plans every statement on every call: for a refresh that was almost half of PostgreSQL's CPU
(bench/README.md, "Refresh: PostgreSQL's side (issue 16)").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.db.models.deletion import Collector
from oauth2_provider.models import get_refresh_token_model

from core.postgresql.base import MAX_BOUND_PARAMETERS, DatabaseWrapper
from tests.support.production import production_settings

ROOT = Path(__file__).resolve().parent.parent


def production_database_options(tmp_path, database_url: str) -> dict:
    """The production profile's DATABASES["default"]["OPTIONS"] (and its ENGINE as ``engine``)."""
    database = "settings.DATABASES['default']"
    expression = f"dict({database}.get('OPTIONS', {{}}), engine={database}['ENGINE'])"
    return production_settings(tmp_path, expression, database_url=database_url)


def test_the_production_profile_binds_on_the_server_and_prepares_repeated_statements(tmp_path):
    options = production_database_options(tmp_path, "postgres://postgres@127.0.0.1:5432/auth")
    assert options.get("server_side_binding") is True
    assert options.get("prepare_threshold") == 5
    assert options["engine"] == "core.postgresql"  # batches within the bound parameters' limit


def test_the_database_url_can_turn_server_side_binding_off_for_a_transaction_pooler(tmp_path):
    options = production_database_options(
        tmp_path, "postgres://postgres@127.0.0.1:5432/auth?server_side_binding=false&sslmode=require"
    )
    assert options.get("server_side_binding") is False
    assert options.get("sslmode") == "require"  # the URL's other options are kept


@pytest.mark.services
@pytest.mark.django_db
def test_on_postgresql_a_statement_sent_a_sixth_time_is_prepared_on_the_server():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    sql = "SELECT %s::int + 1 AS prepared_check"
    with connection.cursor() as cursor:
        for value in range(5):
            cursor.execute(sql, [value])
            assert cursor.fetchone() == (value + 1,)
        assert not prepared(cursor)  # five uses: still parsed and planned on every call
        cursor.execute(sql, [5])
        assert cursor.fetchone() == (6,)
        assert prepared(cursor)


def prepared(cursor) -> bool:
    cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%prepared_check%"])
    return cursor.fetchone() == (1,)


def postgresql_wrapper(**options) -> DatabaseWrapper:
    """The backend's wrapper, not connected: enough to ask its operations."""
    return DatabaseWrapper(
        {"ENGINE": "core.postgresql", "NAME": "unused", "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
         "OPTIONS": options, "TIME_ZONE": None, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False,
         "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "TEST": {}},
        "probe",
    )


def test_with_server_side_binding_a_batch_holds_no_more_parameters_than_postgresql_takes():
    """Django 5.2 leaves PostgreSQL's batches unlimited: a delete's look-up of more than 65,535
    related rows (a client's access tokens) was one statement PostgreSQL cannot take."""
    token_field = get_refresh_token_model()._meta.get_field("access_token")
    objs = list(range(70_000))
    bound = postgresql_wrapper(server_side_binding=True).ops
    assert bound.bulk_batch_size([token_field], objs) == MAX_BOUND_PARAMETERS == 65535
    assert bound.bulk_batch_size([token_field] * 3, objs) == 65535 // 3
    assert bound.bulk_batch_size([token_field], objs[:10]) == 10
    assert bound.bulk_batch_size([], objs) == len(objs)
    # Client-side binding writes the values into the text: Django's own (unlimited) batches.
    assert postgresql_wrapper(server_side_binding=False).ops.bulk_batch_size([token_field], objs) == len(objs)


@pytest.mark.services
@pytest.mark.django_db
def test_on_postgresql_a_delete_looks_up_related_rows_in_batches_postgresql_takes():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    token_field = get_refresh_token_model()._meta.get_field("access_token")
    batches = Collector(using=connection.alias).get_del_batches(list(range(70_000)), [token_field])
    assert [len(batch) for batch in batches] == [65535, 70_000 - 65535]
