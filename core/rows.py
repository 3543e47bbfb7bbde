"""Rows written and read without the ORM's per-call work, for the hot paths (sign-in, the token endpoint).

``Model.save(force_insert=True)`` builds and compiles its INSERT anew on every call: about
0.1 ms of process CPU (measured in process), as much as sending the statement. A sign-in writes
three such rows (its session, its sessions-page entry, its audit row). :func:`insert` sends
the same statement, its text built once per model and database, with each value
prepared as ``save()`` prepares it (defaults and ``pre_save`` hooks such as ``auto_now``
apply), and reads a database-generated key back as ``save()`` does. :func:`update` is
the same for some columns of an existing row (the sign-in's ``last_login``).

Neither sends a ``pre_save``/``post_save`` signal: they are for models, or columns, that
no receiver watches.

Reading: a join the ORM would build and compile on every request (0.5-1 ms of CPU for the
token endpoint's, more than running it) is written once as SQL with :func:`columns`,
:func:`table` and :func:`column`, and its row turned into instances by :func:`instance_from`
and :func:`joined_instance_from` with the backend's and the fields' converters and
``Model.from_db``, as a queryset does (a datetime from SQLite's text, a UUID, JSON).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import AutoField, Field, Model

M = TypeVar("M", bound=Model)


@functools.cache
def fields(model: type[Model]) -> tuple[Field, ...]:
    """The columns an insert writes: every concrete field but a database-generated key."""
    return tuple(field for field in model._meta.concrete_fields if not isinstance(field, AutoField))


def values(row: Model, alias: str) -> list[Any]:
    """The values of :func:`fields` for a new row, as ``save()`` prepares them."""
    connection = connections[alias]
    return [field.get_db_prep_save(field.pre_save(row, add=True), connection) for field in fields(type(row))]


@functools.cache
def insert_sql(model: type[Model], alias: str) -> str:
    """``INSERT INTO table (columns) VALUES (%s, ...)``, quoted for the alias's database."""
    quote = connections[alias].ops.quote_name
    columns = [quote(field.column or field.name) for field in fields(model)]
    placeholders = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) VALUES ({placeholders})"


@functools.cache
def _returning_sql(model: type[Model], alias: str) -> str:
    key = model._meta.pk
    if not isinstance(key, AutoField):
        return ""
    return f" RETURNING {connections[alias].ops.quote_name(key.column or key.name)}"  # PostgreSQL, SQLite >= 3.35


def insert(row: Model) -> None:
    """Write a new model instance as one INSERT (in whatever transaction is open)."""
    model = type(row)
    alias = router.db_for_write(model, instance=row)
    returning = _returning_sql(model, alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(insert_sql(model, alias) + returning, values(row, alias))
        if returning:
            row.pk = cursor.fetchone()[0]
    row._state.adding = False
    row._state.db = alias


def _named(model: type[Model], names: tuple[str, ...]) -> list[Field]:
    by_name = {field.name: field for field in model._meta.concrete_fields}
    return [by_name[name] for name in names]


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    assignments = ", ".join(f"{quote(field.column or field.name)} = %s" for field in _named(model, names))
    key = model._meta.pk
    assert key is not None, "a concrete model has a primary key"
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(key.column or key.name)} = %s"


def update(row: Model, *names: str) -> None:
    """Write these fields of an existing row as one UPDATE by its key, in whatever transaction
    is open: what ``save(update_fields=names)`` writes."""
    model = type(row)
    alias = router.db_for_write(model, instance=row)
    connection, key = connections[alias], model._meta.pk
    assert key is not None, "a concrete model has a primary key"
    values = [field.get_db_prep_save(field.pre_save(row, add=False), connection) for field in _named(model, names)]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, names, alias), [*values, key.get_db_prep_value(row.pk, connection)])


@functools.cache
def claim_sql(
    model: type[Model], marker: str, by: str, also: tuple[str, ...] = (), alias: str = DEFAULT_DB_ALIAS
) -> str:
    """An UPDATE that sets ``marker`` (and the fields ``also``) on the row whose ``by`` matches,
    only while ``marker`` is NULL: of two concurrent claims exactly one changes a row, and its
    rowcount tells which. Parameters: the new values in that order, then ``by``'s value."""
    sets = ", ".join(f"{column(model, name, alias)} = %s" for name in (marker, *also))
    where = f"{column(model, by, alias)} = %s AND {column(model, marker, alias)} IS NULL"
    return f"UPDATE {table(model, alias)} SET {sets} WHERE {where}"


@functools.cache
def delete_sql(model: type[Model], alias: str = DEFAULT_DB_ALIAS) -> str:
    """A DELETE of one row by its key (no collector, no signal: for rows nothing points at)."""
    key = model._meta.pk
    assert key is not None, "a concrete model has a primary key"
    return f"DELETE FROM {table(model, alias)} WHERE {column(model, key.name, alias)} = %s"


# --- Reading ----------------------------------------------------------------------------


def fetch_one(sql: str, params: Sequence[Any], alias: str = DEFAULT_DB_ALIAS) -> tuple | None:
    """The first row a hand-written SELECT gives, or None."""
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def table(model: type[Model], alias: str = DEFAULT_DB_ALIAS) -> str:
    """The model's table, quoted for the alias's database."""
    return connections[alias].ops.quote_name(model._meta.db_table)


def column(model: type[Model], name: str, alias: str = DEFAULT_DB_ALIAS) -> str:
    """A field's column by field name (``"user"`` gives ``"user_id"``), quoted."""
    field = cast(Field, model._meta.get_field(name))
    return connections[alias].ops.quote_name(field.column or field.name)


Converter = Callable[[Any, Any, Any], Any]
_Reader = tuple[str, tuple[str, ...], int, tuple[tuple[Any, tuple[Converter, ...]], ...]]


@functools.cache
def _converters(field: Field, table_alias: str, alias: str) -> tuple[Any, tuple[Converter, ...]]:
    """A column's expression and its converters: the backend's, then the field's."""
    connection = connections[alias]
    col = field.get_col(table_alias)
    return col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))


@functools.cache
def _reader(model: type[Model], table_alias: str, alias: str) -> _Reader:
    """The select list of the model's concrete fields, their attribute names, where the key is,
    and each column's converters."""
    concrete = model._meta.concrete_fields
    quote = connections[alias].ops.quote_name
    select = ", ".join(f"{quote(table_alias)}.{quote(field.column or field.name)}" for field in concrete)
    attnames = tuple(field.attname for field in concrete)
    key = model._meta.pk
    assert key is not None, "a concrete model has a primary key"
    return select, attnames, attnames.index(key.attname), tuple(_converters(f, table_alias, alias) for f in concrete)


def columns(model: type[Model], table_alias: str, alias: str = DEFAULT_DB_ALIAS) -> str:
    """``"t"."column", ...`` for each of the model's concrete fields under ``table_alias``."""
    return _reader(model, table_alias, alias)[0]


def width(model: type[Model]) -> int:
    """How many columns :func:`columns` selects."""
    return len(model._meta.concrete_fields)


def convert(field: Field, value: Any, alias: str = DEFAULT_DB_ALIAS) -> Any:
    """One selected column's value as ``field`` holds it."""
    col, converters = _converters(field, "_", alias)
    for converter in converters:
        value = converter(value, col, connections[alias])
    return value


def instance_from(model: type[M], table_alias: str, row: Sequence[Any], start: int = 0,
                  alias: str = DEFAULT_DB_ALIAS) -> M:
    """The instance whose :func:`columns` begin at ``row[start]``."""
    connection = connections[alias]
    _select, attnames, _key, converters = _reader(model, table_alias, alias)
    values = list(row[start : start + len(attnames)])
    for index, (col, field_converters) in enumerate(converters):
        value = values[index]
        for converter in field_converters:
            value = converter(value, col, connection)
        values[index] = value
    return model.from_db(alias, list(attnames), values)


def joined_instance_from(model: type[M], table_alias: str, row: Sequence[Any], start: int = 0,
                         alias: str = DEFAULT_DB_ALIAS) -> M | None:
    """Like :func:`instance_from`, for a LEFT OUTER JOIN: None when it joined no row."""
    key_index = _reader(model, table_alias, alias)[2]
    if row[start + key_index] is None:
        return None
    return instance_from(model, table_alias, row, start, alias)
