"""Account mail leaves after the response, by one path (accounts/mail.py).

A reset request for an existing address and one for an unknown address do the same work
within the request: they queue the same task with the same kind of argument, send nothing
and do not read the accounts table. The mail arrives afterwards, for the existing one only.
"""

from __future__ import annotations

import logging
from unittest import mock

import pytest
from django.core import mail as outbox
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import mail
from accounts.email_confirmation import confirmation_mail
from accounts.password_reset import password_reset_mail
from tests.accounts.helpers import register_data
from tests.factories import customer

pytestmark = pytest.mark.django_db

RESET = "/accounts/password/reset/"
deliver_now = mail.deliver  # the real one, while ``held`` replaces it in the module


@pytest.fixture
def held():
    """The jobs each request queued, kept instead of delivered after the response."""
    jobs: list[list] = []
    with mock.patch("accounts.mail.deliver", side_effect=lambda queued: jobs.append(list(queued))):
        yield jobs


def test_reset_for_an_existing_and_an_unknown_address_takes_the_same_path_within_the_request(client, held):
    user = customer()
    answers, queries = [], []
    for email in (user.email, "nobody-here@example.com"):
        with CaptureQueriesContext(connection) as captured:
            answers.append(client.post(RESET, {"email": email}))
        queries.append([query["sql"] for query in captured.captured_queries])

    # Nothing was sent while the requests ran, and the accounts table was never read.
    assert outbox.outbox == []
    assert [(answer.status_code, answer["Location"]) for answer in answers] == [
        (302, "/accounts/password/reset/sent/")
    ] * 2
    assert not any("accounts_user" in sql for sql in queries[0] + queries[1]), queries
    assert [sql.split(" VALUES")[0] for sql in queries[0]] == [sql.split(" VALUES")[0] for sql in queries[1]]
    # Each request queued the same task with the submitted address, and nothing else.
    assert held == [
        [(password_reset_mail, {"email": user.email})],
        [(password_reset_mail, {"email": "nobody-here@example.com"})],
    ]

    # Delivered after the response: a mail for the account, none for the unknown address.
    for jobs in list(held):
        deliver_now(jobs)
    assert [message.to for message in outbox.outbox] == [[user.email]]
    assert "/accounts/password/reset/" in outbox.outbox[0].body


def test_the_mail_is_delivered_once_the_response_is_finished(client):
    user = customer()
    client.post(RESET, {"email": user.email})  # the test client closes the response: request_finished
    client.post(RESET, {"email": "nobody-here@example.com"})
    assert [message.to for message in outbox.outbox] == [[user.email]]


def test_registration_queues_the_confirmation_mail_for_after_the_response(client, held):
    response = client.post("/accounts/register/", register_data(email="queued@example.com"))
    assert response.status_code == 302
    assert outbox.outbox == []
    ((task, arguments),) = held[-1]
    assert task is confirmation_mail and set(arguments) == {"user_id"}
    deliver_now(held[-1])
    assert [message.to for message in outbox.outbox] == [["queued@example.com"]]


def test_a_failing_mail_task_is_retried_then_logged_without_the_address(caplog, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nobody listens: connection refused
    user = customer()
    with mock.patch("accounts.mail.time.sleep") as slept, caplog.at_level(logging.WARNING, logger="accounts.mail"):
        mail.deliver([(password_reset_mail, {"email": user.email})])
    assert slept.call_count == mail.ATTEMPTS - 1
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "password_reset_mail" in errors[0].getMessage()
    assert user.email not in caplog.text


def test_outside_a_request_a_mail_task_runs_at_once():
    user = customer()
    mail.send_later(password_reset_mail, email=user.email)
    assert [message.to for message in outbox.outbox] == [[user.email]]
