"""Mail leaves after the response: the one path every account mail takes.

``send_later(task, **arguments)`` queues a mail task during a request; the task runs once
Django has delivered the response (``request_finished``, which the WSGI server sends when
it closes the response, after the last byte went out). So the answer a client sees costs
the same whatever the task will find: a reset request for an unknown address and for an
existing one queue the same task with the same arguments, and only the task looks the
account up, makes a token and talks to the SMTP server. Outside a request (a management
command, a shell) the task runs at once.

Arguments are plain JSON values (ids, addresses), never model instances: what a task reads
is read when it runs, and the queue could move to a separate worker unchanged.

Failure modes: a failed task is retried (``ATTEMPTS``, with ``RETRY_DELAYS`` between
tries) in the same thread, then logged at ERROR on the ``accounts.mail`` logger with the
task's name and the error's type (never the address or the message). Mail queued in a
process that is killed (SIGKILL, a crash) before its response finished is lost, and
nothing records it; gunicorn's graceful stop and restarts wait for it. Needs no service
besides the SMTP server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from django.core.signals import request_finished, request_started

logger = logging.getLogger("accounts.mail")

ATTEMPTS = 3
RETRY_DELAYS = (1.0, 5.0)  # seconds before the second and the third attempt

Task = Callable[..., None]
_local = threading.local()


def send_later(task: Task, /, **arguments) -> None:
    """Run ``task(**arguments)`` after this request's response (at once outside a request)."""
    json.dumps(arguments)  # plain values only: fail here, in the caller, not after the response
    queue = getattr(_local, "queue", None)
    if queue is None:
        deliver([(task, arguments)])
    else:
        queue.append((task, arguments))


def deliver(jobs: list[tuple[Task, dict]]) -> None:
    """Run queued mail tasks, retrying each; a task that keeps failing is logged, not raised."""
    for task, arguments in jobs:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                task(**arguments)
                break
            except Exception as error:  # noqa: BLE001 - one mail must not stop the others
                if attempt == ATTEMPTS:
                    logger.error(
                        "mail task %s failed %d times, giving up: %s", _name(task), attempt, type(error).__name__
                    )
                else:
                    logger.warning("mail task %s failed (%s), retrying", _name(task), type(error).__name__)
                    time.sleep(RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)])


def _name(task: Task) -> str:
    return f"{task.__module__}.{task.__qualname__}"


def _request_started(**kwargs) -> None:
    _local.queue = []


def _request_finished(**kwargs) -> None:
    jobs, _local.queue = getattr(_local, "queue", None) or [], None
    if jobs:
        deliver(jobs)


def connect_to_requests() -> None:
    """Called once at start-up (AccountsConfig.ready), before the first request."""
    request_started.connect(_request_started, dispatch_uid="accounts.mail.request_started")
    request_finished.connect(_request_finished, dispatch_uid="accounts.mail.request_finished")
