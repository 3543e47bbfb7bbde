"""A short-lived cache of access tokens, so a bearer request skips the token query.

Personal access tokens (``pat_...``, :mod:`oauth.personal_tokens`) are kept the same way, by
the same rules, under their key id (see "Personal access tokens" below), and so are OAuth
clients with their policy, under their client id (see "OAuth clients" below).

Looking a token up costs about 1.8 ms per request through the ORM (a three-model row: the
token, its user and its client), of which PostgreSQL takes 0.07 ms. The cache keeps those
rows in the shared cache instead, and DOT still validates what it gets back exactly as it
validates a row from the database (expiry, scopes, audience); our validator still refuses
a token whose user is inactive or deleted.

What is kept, under the token's SHA-256 (the ``token_checksum`` DOT looks tokens up by):
the token's row without the token itself, its user's row without the password hash and
its client's row without the secret. The instances rebuilt from it defer those fields, so
reading one queries the database and saving one never writes a blank.

How long: ``TTL`` seconds at most, and never past the token's expiry.

What removes an entry: every write that could change the answer.
- The token is deleted: revocation, rotation, consent revoked, password changed or reset,
  the user or the client deleted (cascades send a signal per row), expired tokens cleared.
- The token's row changes (under its old checksum too, should a row get a new value).
- Its user's row changes (role, region, active, deleted, email...), except a sign-in's
  ``last_login`` stamp.
- Its client's row changes.
Removal leaves a tombstone for ``TTL`` seconds, before the write (or, for a deletion, in its
transaction) and again after the transaction commits, and a request stores an entry only
where there is none (``cache.add``). A request that read the old row just before a change
therefore cannot put it back afterwards. The role's permissions are not kept here:
``permissions.role_table`` keeps them per process.

When the cache is unreachable a request reads the database (never an answer older than
the request), while a write that must remove an entry fails before it is written, or rolls
back with its transaction: it answers 503 and the client retries. Those writes (revoking,
deactivating, changing a password) therefore wait for the cache to come back, as sign-in
does: an entry that could not be removed must not outlive the outage.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, cache
from django.db import models, router, transaction
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute, ForwardManyToOneDescriptor
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from django_redis.client import DefaultClient
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.settings import oauth2_settings

from accounts import throttles
from core.unavailable import is_service_outage
from oauth.models import ClientPolicy, PersonalToken

log = logging.getLogger(__name__)

TTL = 30  # seconds
KEY_PREFIX = "oauth:access-token:"
TOMBSTONE = "revoked"

# Never written to the shared cache: the credentials themselves.
NOT_CACHED = {
    "oauth2_provider.accesstoken": {"token"},
    "accounts.user": {"password"},
    "oauth2_provider.application": {"client_secret"},
    # A personal token's row keeps its keyed hash (the request's secret is compared with it,
    # in constant time, on every request): useless without the server's key, unlike a token.
    "oauth.personaltoken": set(),
}


def checksum(token: str) -> str:
    """How DOT stores a token's look-up key (``AccessToken.token_checksum``)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key(token_checksum: str) -> str:
    return KEY_PREFIX + token_checksum


def load(token: str, load_from_database):
    """The access token for ``token`` (with its user and client), or None if there is none."""
    return _load(key(checksum(token)), lambda: load_from_database(token), _rebuild, _entry)


_NOT_READ = object()


def _load(cache_key: str, load_from_database, rebuild, entry_of, entry: Any = _NOT_READ):
    """The cached row under ``cache_key`` (``entry``, if it was read already), else the
    database's (stored only where no entry is)."""
    if entry is _NOT_READ:
        try:
            entry = _read(cache_key)
        except Exception as exc:
            if not is_service_outage(exc):
                raise
            return load_from_database()
    if isinstance(entry, dict):
        return rebuild(entry)
    instance = load_from_database()
    if instance is not None and entry is None:
        _store(cache_key, *entry_of(instance))
    return instance


# The entries decoded lately in this process, by the exact bytes Redis returned for them.
_decoded: dict[bytes, Any] = {}
DECODED_KEPT = 256


def _read(cache_key: str) -> Any:
    """``cache.get(cache_key)``, read on every call; decoded once per process for the same bytes.

    Every request still reads the shared cache, so a tombstone or a changed row is seen at
    once; only unpickling the bytes it already decoded is skipped (a token, its user and its
    client: a tenth of what a bearer read adds to the same view without DRF). With
    django-redis the raw reply is read through its own client and decoded by it; any other
    cache (the embedded profile's) is read as before. An entry is a dict of rows whose values
    are immutable (strings, numbers, dates, UUIDs) except JSON fields, which
    :func:`_instance` copies.
    """
    client = getattr(cache, "client", None)
    if not isinstance(client, DefaultClient):
        return cache.get(cache_key)
    blob = client.get_client(write=False).get(client.make_key(cache_key))
    if blob is None:
        return None
    entry = _decoded.get(blob, _NOT_READ)
    if entry is _NOT_READ:
        entry = client.decode(blob)
        if len(_decoded) >= DECODED_KEPT:
            _decoded.clear()
        _decoded[blob] = entry
    return entry


def _entry(access_token) -> tuple[dict, object]:
    entry = {
        "token": _row(access_token),
        "user": _row(access_token.user) if access_token.user_id else None,
        "application": _row(access_token.application) if access_token.application_id else None,
    }
    return entry, access_token.expires


def _store(cache_key: str, entry: dict | None, expires) -> None:
    if entry is None:
        return
    seconds = min(TTL, int((expires - timezone.now()).total_seconds()))
    if seconds <= 0:
        return
    try:
        cache.add(cache_key, entry, timeout=seconds)
    except Exception as exc:
        if not is_service_outage(exc):
            raise


def _row(instance: models.Model, *, keep_secret: bool = False) -> dict:
    skipped = set() if keep_secret else NOT_CACHED.get(instance._meta.label_lower, set())
    return {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name not in skipped
    }


def _instance(model: type[models.Model], row: dict) -> models.Model:
    """The instance ``model.from_db`` would build from ``row``, by name: an entry written before a
    deploy that added or removed a field still rebuilds (a missing field is deferred, a removed
    one ignored).

    ``from_db`` calls ``__init__``, which walks every field and sends ``pre_init`` and
    ``post_init``: about a fifth of what a bearer read adds to the same view without DRF. Where
    no receiver listens to those signals for the model and every field's attribute is a plain
    ``DeferredAttribute`` (or a foreign key's, which only clears a cached related object, and a
    new instance has none), setting the values in the instance's ``__dict__`` builds the same
    instance; otherwise ``from_db`` does. A row whose values are all of immutable types (most
    rows) is copied in one step; only one holding something else has its JSON values copied.
    """
    db = router.db_for_read(model)
    attnames = _plain_attnames(model)
    if attnames is None or _init_listened(model):
        names = [field.attname for field in model._meta.concrete_fields if field.attname in row]
        return model.from_db(db, names, [_own(row[name]) for name in names])
    instance = model.__new__(model)
    state = ModelState()
    state.adding, state.db = False, db
    values = instance.__dict__
    values["_state"] = state
    values.update(row if row.keys() <= attnames else {name: row[name] for name in row if name in attnames})
    if not _IMMUTABLE.issuperset(map(type, row.values())):
        for name, value in row.items():
            if type(value) not in _IMMUTABLE and name in attnames:
                values[name] = _own(value)
    return instance


def _init_listened(model: type[models.Model]) -> bool:
    """Does a ``pre_init`` or ``post_init`` receiver listen for the model? (No receiver at all
    for either signal, the usual case, answers without asking each signal about the model.)"""
    if not pre_init.receivers and not post_init.receivers:
        return False
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


# The types of the values a row holds that nobody can change in place: shared between the
# instances rebuilt from one decoded entry as they are (see ``_read``).
_IMMUTABLE = frozenset({type(None), bool, int, float, str, bytes, Decimal, UUID, datetime, date, time, timedelta})


def _own(value: Any) -> Any:
    """A JSON field's value copied (an entry may be decoded once for many requests, see
    :func:`_read`); any other value of a row is immutable and shared as it is. A flat list or
    dict of immutable values (a token's ``resource``) is copied without ``deepcopy``'s walk."""
    if type(value) is list and _IMMUTABLE.issuperset(map(type, value)):
        return list(value)
    if (
        type(value) is dict
        and _IMMUTABLE.issuperset(map(type, value))
        and _IMMUTABLE.issuperset(map(type, value.values()))
    ):
        return dict(value)
    return copy.deepcopy(value) if isinstance(value, _JSON_CONTAINERS) else value


_JSON_CONTAINERS = (list, dict)


@functools.cache
def _plain_attnames(model: type[models.Model]) -> frozenset[str] | None:
    """The model's concrete fields' attribute names, or None if one of them is set through a
    descriptor that does more than store the value (``_instance`` then uses ``from_db``)."""
    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    fields = model._meta.concrete_fields
    if any(type(model.__dict__.get(field.attname, None)) not in plain for field in fields):
        return None
    return frozenset(field.attname for field in fields)


@functools.cache
def _models(access_token: str, application: str, user: str) -> tuple[Any, Any, Any]:
    """The access token, application and user models these settings name (DOT's swappable ones
    and ``AUTH_USER_MODEL``): resolved once, not three registry look-ups per request."""
    return apps.get_model(access_token), apps.get_model(application), apps.get_model(user)


def _attach(instance: models.Model, name: str, related: models.Model) -> None:
    """``instance.<name> = related`` for a foreign key whose columns already hold ``related``'s
    key (the rows of one entry): the related object is cached on the instance, as the
    descriptor would cache it. Anything else (a router that may refuse the relation, a key that
    differs or is missing, another kind of relation) goes through the descriptor."""
    link = _foreign_key(type(instance), name)
    if link is not None and not router.routers:
        columns, cache_name = link
        own, theirs = instance.__dict__, related.__dict__
        if all(own.get(column) == theirs.get(target) for column, target in columns):
            instance._state.fields_cache[cache_name] = related
            return
    setattr(instance, name, related)


@functools.cache
def _foreign_key(model: type[models.Model], name: str) -> tuple[tuple[tuple[str, str], ...], str] | None:
    """((column attribute, target's attribute), ...) and the cache name of the foreign key
    ``name``, or None for another kind of relation."""
    descriptor = model.__dict__.get(name)
    if type(descriptor) is not ForwardManyToOneDescriptor:  # a one-to-one's also caches the reverse side
        return None
    field = descriptor.field
    return tuple((local.attname, target.attname) for local, target in field.related_fields), field.cache_name


def _rebuild(entry: dict):
    token_model, application_model, user_model = _models(
        oauth2_settings.ACCESS_TOKEN_MODEL, oauth2_settings.APPLICATION_MODEL, settings.AUTH_USER_MODEL
    )
    access_token: Any = _instance(token_model, entry["token"])  # DOT's swappable AccessToken
    if entry["application"] is not None:
        _attach(access_token, "application", _instance(application_model, entry["application"]))
    if entry["user"] is not None:
        _attach(access_token, "user", _instance(user_model, entry["user"]))
    return access_token


# --- Removal -----------------------------------------------------------------------------


def forget(checksums) -> None:
    """Tombstone these tokens' entries now and again after the transaction commits."""
    forget_keys([key(value) for value in checksums if value])


def forget_keys(keys: list[str]) -> None:
    """Tombstone these cache entries now and again after the transaction commits."""
    if not keys:
        return
    _tombstone(keys)
    transaction.on_commit(lambda: _tombstone_after_commit(keys))


def _tombstone(keys: list[str]) -> None:
    if len(keys) == 1:  # a refresh's old token: one SET (django-redis wraps set_many in MULTI/EXEC)
        cache.set(keys[0], TOMBSTONE, timeout=TTL)
    else:
        cache.set_many(dict.fromkeys(keys, TOMBSTONE), timeout=TTL)


def _tombstone_after_commit(keys: list[str]) -> None:
    try:
        _tombstone(keys)
    except Exception as exc:
        if not is_service_outage(exc):
            raise
        log.warning(
            "access tokens changed while the cache was unreachable: %d entries expire within %s s", len(keys), TTL
        )


def _checksums_of(**filters) -> list[str]:
    return list(get_access_token_model().objects.filter(**filters).values_list("token_checksum", flat=True))


def on_token_saving(sender, instance, raw=False, **kwargs) -> None:
    """Before a token row is updated: its entry goes, under the value it had and the one it gets."""
    if raw or instance._state.adding:  # a new token has no entry yet
        return
    before = get_access_token_model().objects.filter(pk=instance.pk).values_list("token_checksum", flat=True).first()
    forget({before, instance.token_checksum})


def on_token_deleted(sender, instance, **kwargs) -> None:
    if instance.expires is not None and instance.expires <= timezone.now():
        return  # an entry never outlives its token (cleartokens deletes only expired ones)
    forget([instance.token_checksum])


# A sign-in stamps last_login (update_fields=["last_login"]): nothing a token depends on.
IRRELEVANT_USER_FIELDS = frozenset({"last_login"})


# Users and clients are handled before their row is written (pre_save): if the cache cannot
# be reached, the save fails before anything is written, even outside a transaction.


def on_user_saving(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance._state.adding:
        return
    if update_fields is not None and set(update_fields) <= IRRELEVANT_USER_FIELDS:
        return
    keys = [key(value) for value in _checksums_of(user_id=instance.pk) if value]
    forget_keys(keys + [personal_key(key_id) for key_id in _personal_key_ids_of(owner_id=instance.pk)])


def on_application_saving(sender, instance, raw=False, **kwargs) -> None:
    if not raw and not instance._state.adding:
        forget(_checksums_of(application_id=instance.pk))


# --- Personal access tokens ----------------------------------------------------------------
#
# Kept under their key id (``pat_<key_id>_...``), with their owner's row (no password hash),
# for ``TTL`` seconds at most and never past their expiry. Removed, with tombstones, exactly as
# access tokens are: when the token's row is saved or deleted, when it is revoked
# (``oauth.tokens.revoke_personal_tokens`` updates in bulk and removes the entries itself), and
# when its owner's row changes. Stamping ``last_used_at`` or a new address (a bulk UPDATE that
# sends no signal) removes nothing: neither changes what the token may do.

PERSONAL_KEY_PREFIX = "oauth:personal-token:"


def personal_key(key_id: str) -> str:
    return PERSONAL_KEY_PREFIX + key_id


def load_personal_token(key_id: str, load_from_database):
    """The personal token with this key id (and its owner), or None if there is none."""
    return _load(personal_key(key_id), lambda: load_from_database(key_id), _rebuild_personal, _personal_entry)


def _personal_entry(personal_token) -> tuple[dict, object]:
    return {"token": _row(personal_token), "user": _row(personal_token.owner)}, personal_token.expires_at


def _rebuild_personal(entry: dict) -> PersonalToken:
    personal_token = _instance(PersonalToken, entry["token"])
    assert isinstance(personal_token, PersonalToken)
    _attach(personal_token, "owner", _instance(get_user_model(), entry["user"]))
    return personal_token


def _personal_key_ids_of(**filters) -> list[str]:
    return list(PersonalToken.objects.filter(**filters).values_list("key_id", flat=True))


def on_personal_token_saving(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance._state.adding:
        return
    before = sender.objects.filter(pk=instance.pk).values_list("key_id", flat=True).first()
    forget_keys([personal_key(value) for value in {before, instance.key_id} if value])


def on_personal_token_deleted(sender, instance, **kwargs) -> None:
    forget_keys([personal_key(instance.key_id)])


# --- OAuth clients ---------------------------------------------------------------------------
#
# Every token, revocation and introspection request looks its client up by ``client_id``
# (DOT's ``_load_application``, then the client's policy for its scopes, role and region):
# two statements per request, the same two rows every time. They are kept here under the
# client id's SHA-256, for ``TTL`` seconds at most: the client's row *with* its stored secret
# (DOT authenticates the client from it) and its policy's row. Only a client whose secret is
# stored hashed is kept (``hash_client_secret``, DOT's default: a keyed HMAC here,
# ``oauth.hashers``), so the shared cache never holds a usable secret; an unhashed client is
# read from the database every time. An unknown client id is never kept.
#
# Removed, with tombstones, exactly as access tokens are: when the client's row is saved
# (under the client id it had and the one it gets) or deleted, and when its policy is saved
# or deleted. A request that read the row before the change cannot put it back (``cache.add``
# after the tombstone), and with the cache down the request reads the database.
#
# The token endpoint reads its client's entry ahead, in the round trip that counts the request
# per IP (``accounts.throttles.count_and_read``: one round trip instead of two), and hands it to
# the look-up with ``client_read_ahead``. The entry is then exactly what a ``cache.get`` at the
# count would have returned; it is used once, by the look-up of that client id in that request.

CLIENT_KEY_PREFIX = "oauth:client:"

# The client entries read ahead for this request: cache key -> what the cache held (None: nothing).
_clients_read_ahead: ContextVar[dict[str, Any] | None] = ContextVar("clients_read_ahead", default=None)


def client_key(client_id: str) -> str:
    return CLIENT_KEY_PREFIX + hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()


def client_keys_to_read_ahead(client_id: str) -> list[str]:
    """What the token endpoint reads ahead for the client a request names: its entry, when the
    throttles count in this module's cache (else none: the look-up reads it as before)."""
    if client_id and throttles.cache_alias() == DEFAULT_CACHE_ALIAS:
        return [client_key(client_id)]
    return []


@contextmanager
def client_read_ahead(entries: dict[str, Any]) -> Iterator[None]:
    """Within: :func:`load_client` takes these entries (by :func:`client_key`) as read from the cache."""
    reset = _clients_read_ahead.set(dict(entries))
    try:
        yield
    finally:
        _clients_read_ahead.reset(reset)


def load_client(client_id: str, load_from_database):
    """The client with this id (its policy attached, or known to be absent), or None."""
    cache_key = client_key(client_id)
    read_ahead = _clients_read_ahead.get()
    entry = read_ahead.pop(cache_key, _NOT_READ) if read_ahead else _NOT_READ
    return _load(cache_key, lambda: load_from_database(client_id), _rebuild_client, _client_entry, entry)


def _client_entry(application) -> tuple[dict | None, object]:
    if not application.hash_client_secret:
        return None, timezone.now()  # a secret stored as sent is never copied to the cache
    policy = getattr(application, "client_policy", None)
    entry = {"application": _row(application, keep_secret=True), "policy": _row(policy) if policy else None}
    return entry, timezone.now() + timedelta(seconds=TTL)


def _rebuild_client(entry: dict):
    application: Any = _instance(get_application_model(), entry["application"])
    policy: Any = _instance(ClientPolicy, entry["policy"]) if entry["policy"] is not None else None
    # The reverse one-to-one's cache: ``application.client_policy`` answers without a query
    # (None makes it raise RelatedObjectDoesNotExist, as a missing row does).
    type(application).client_policy.related.set_cached_value(application, policy)
    if policy is not None:
        policy.application = application
    return application


def forget_clients(client_ids) -> None:
    forget_keys([client_key(value) for value in client_ids if value])


def on_application_saved_or_deleted(sender, instance, raw=False, **kwargs) -> None:
    """Before a client's row is written or after it is deleted: its entry goes (old and new id)."""
    if raw or instance._state.adding:
        return  # a new client has no entry (an unknown id is never kept)
    before = None
    if instance.pk is not None:
        before = sender.objects.filter(pk=instance.pk).values_list("client_id", flat=True).first()
    forget_clients({before, instance.client_id})


def on_client_policy_changed(sender, instance, raw=False, **kwargs) -> None:
    if raw:
        return
    client_id = get_application_model().objects.filter(pk=instance.application_id).values_list(
        "client_id", flat=True
    ).first()
    forget_clients([client_id])


def connect() -> None:
    from django.db.models.signals import post_delete, pre_save

    Application = get_application_model()
    pre_save.connect(on_application_saved_or_deleted, sender=Application, dispatch_uid="client_cache_app_saving")
    post_delete.connect(on_application_saved_or_deleted, sender=Application, dispatch_uid="client_cache_app_deleted")
    pre_save.connect(on_client_policy_changed, sender=ClientPolicy, dispatch_uid="client_cache_policy_saving")
    post_delete.connect(on_client_policy_changed, sender=ClientPolicy, dispatch_uid="client_cache_policy_deleted")

    pre_save.connect(on_personal_token_saving, sender=PersonalToken, dispatch_uid="token_cache_personal_token_saving")
    post_delete.connect(on_personal_token_deleted, sender=PersonalToken, dispatch_uid="token_cache_personal_deleted")
    AccessToken = get_access_token_model()
    pre_save.connect(on_token_saving, sender=AccessToken, dispatch_uid="token_cache_token_saving")
    post_delete.connect(on_token_deleted, sender=AccessToken, dispatch_uid="token_cache_token_deleted")
    pre_save.connect(on_user_saving, sender=get_user_model(), dispatch_uid="token_cache_user_saving")
    pre_save.connect(
        on_application_saving, sender=get_application_model(), dispatch_uid="token_cache_application_saving"
    )
