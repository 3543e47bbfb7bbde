"""Statements built once from a model's fields and run on the connection directly.

For the few hot paths (the token endpoint) where Django's ORM costs more Python than the
statement's round trip: building a queryset, compiling it to SQL and turning rows into
instances take 0.2-1 ms of CPU per statement, against about 0.07 ms for the round trip
itself (``bench/README.md``, issue 16). The SQL text is built once per model and backend
from the model's own metadata, and values go through the fields' own conversions both ways:

- :func:`insert` runs each field's ``pre_save`` (``auto_now``, DOT's token checksum) and
  ``get_db_prep_save``, as ``Model.save()`` does, so the row is the one ``save()`` writes;
- :func:`columns` and :func:`instance_from` select a model's concrete fields and build the
  instance with the backend's and the fields' converters and ``Model.from_db``, as a
  queryset does.

What they leave out on purpose: model signals (``pre_save``/``post_save``). Use them only for
rows whose signals nobody needs, and say so where they are called. Statements that are not
about one model's row (a conditional UPDATE, a lock) are written where they are used, with
:func:`table` and :func:`column` quoting the names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], name: str) -> str:
    """A field's column, quoted, by field name (``"user"`` gives ``"user_id"``)."""
    return _quoted(cast(Field, model._meta.get_field(name)))


def _quoted(field: Field) -> str:
    return connection.ops.quote_name(cast(str, field.column))


# --- Writing ------------------------------------------------------------------------


def _written(field: Field) -> bool:
    return not field.db_returning  # an auto-incremented primary key is the database's to give


@functools.cache
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, tuple[Field, ...]]:
    fields = tuple(field for field in model._meta.concrete_fields if _written(field))
    columns = ", ".join(_quoted(field) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table(model)} ({columns}) VALUES ({placeholders})"
    pk = model._meta.pk
    if pk is not None and not _written(pk):
        sql += f" RETURNING {_quoted(pk)}"  # PostgreSQL, and SQLite since 3.35
    return sql, fields


def insert(instance: Model) -> None:
    """Write a new row for ``instance`` in one statement, as ``instance.save()`` would.

    No ``pre_save``/``post_save`` signal is sent. The instance then has its primary key and
    counts as saved (``_state``), like one ``save()`` created.
    """
    model = type(instance)
    sql, fields = _insert_sql(model, connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if model._meta.pk is not None and not _written(model._meta.pk):
            instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias


# --- Reading --------------------------------------------------------------------------

Converter = Callable[[Any, Any, Any], Any]
_Readers = tuple[str, tuple[str, ...], int, tuple[tuple[Any, tuple[Converter, ...]], ...]]


@functools.cache
def _readers(model: type[Model], alias: str, vendor: str) -> _Readers:
    """The select list of a model's concrete fields under ``alias``, their attribute names,
    where the primary key is, and each column's converters (what a queryset applies)."""
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    select = ", ".join(f"{quote(alias)}.{_quoted(field)}" for field in fields)
    attnames = tuple(field.attname for field in fields)
    pk_index = attnames.index(model._meta.pk.attname)
    return select, attnames, pk_index, tuple(_converters(field, alias, vendor) for field in fields)


@functools.cache
def _converters(field: Field, alias: str, vendor: str) -> tuple[Any, tuple[Converter, ...]]:
    """A column's expression and its converters: the backend's, then the field's."""
    col = field.get_col(alias)
    return col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))


def columns(model: type[Model], alias: str) -> str:
    """``alias."column", ...`` for each of the model's concrete fields, in field order."""
    return _readers(model, alias, connection.vendor)[0]


def width(model: type[Model]) -> int:
    """How many columns :func:`columns` selects for ``model``."""
    return len(model._meta.concrete_fields)


def convert(field: Field, value: Any) -> Any:
    """One column's value as ``field`` holds it (a datetime from SQLite's text, say)."""
    col, converters = _converters(field, "_", connection.vendor)
    for converter in converters:
        value = converter(value, col, connection)
    return value


def instance_from(model: type[M], alias: str, row: Sequence[Any], start: int = 0) -> M:
    """The instance whose columns (:func:`columns` of ``model`` under ``alias``) begin at ``row[start]``."""
    _select, attnames, _pk_index, converters = _readers(model, alias, connection.vendor)
    values = list(row[start : start + len(attnames)])
    for index, (col, field_converters) in enumerate(converters):
        value = values[index]
        for converter in field_converters:
            value = converter(value, col, connection)
        values[index] = value
    return model.from_db(connection.alias, list(attnames), values)


def joined_instance_from(model: type[M], alias: str, row: Sequence[Any], start: int = 0) -> M | None:
    """Like :func:`instance_from`, for a LEFT OUTER JOIN: None when it joined no row."""
    _select, attnames, pk_index, _converters = _readers(model, alias, connection.vendor)
    if row[start + pk_index] is None:
        return None
    return instance_from(model, alias, row, start)
