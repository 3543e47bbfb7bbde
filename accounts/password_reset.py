"""The password-reset mail: a task that runs after the response (see accounts/mail.py).

The request only validates the address's shape and queues this task, the same for every
address; looking the account up, making the token and sending happen here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

EMAIL_TEMPLATE = "accounts/email/password_reset.txt"
SUBJECT_TEMPLATE = "accounts/email/password_reset_subject.txt"


class ResetMailForm(PasswordResetForm):
    """Django's form, except that a failed send raises (Django's logs and drops it): the task retries."""

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None
    ):
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        EmailMessage(subject, render_to_string(email_template_name, context), from_email, [to_email]).send()


def password_reset_mail(*, email: str) -> None:
    """Mail a reset link to the active account with this address, if there is one; links from PUBLIC_ORIGIN."""
    form = ResetMailForm({"email": email})
    if not form.is_valid():
        return
    origin = urlsplit(settings.PUBLIC_ORIGIN)
    form.save(
        domain_override=origin.netloc,
        use_https=origin.scheme == "https",
        email_template_name=EMAIL_TEMPLATE,
        subject_template_name=SUBJECT_TEMPLATE,
        extra_email_context={"origin": settings.PUBLIC_ORIGIN},
    )
