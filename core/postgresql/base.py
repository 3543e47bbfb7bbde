"""Django's PostgreSQL backend, with batches that fit PostgreSQL's limit on bound parameters.

``config/settings.py`` has PostgreSQL bind each statement's parameters itself
(``server_side_binding``), and one statement then carries at most 65,535 of them (the
protocol counts them in 16 bits; psycopg refuses more before sending). Django 5.2 splits a
bulk insert, and the look-ups of related rows a delete makes, by ``bulk_batch_size``, which on
PostgreSQL is unlimited: deleting a client with more than 65,535 access tokens would send one
``... WHERE "access_token_id" IN (...)`` with a parameter per token, and fail. Here a batch
holds at most as many rows as fit. With client-side binding the values are written into the
text and Django's own batches stay.
"""

from __future__ import annotations

from django.db.backends.postgresql import base, operations

MAX_BOUND_PARAMETERS = 65535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        size = super().bulk_batch_size(fields, objs)
        if fields and self.connection.features.uses_server_side_binding:
            return min(size, max(MAX_BOUND_PARAMETERS // len(fields), 1))
        return size


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
