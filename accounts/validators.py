"""Password rules beyond Django's own validators."""

from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


class MaximumLengthValidator:
    """Refuse absurdly long passwords instead of truncating them.

    The limit only bounds the work one request can ask of the hasher; anything a
    password manager produces (128 characters and far beyond) is accepted whole.
    """

    def __init__(self, max_length: int = 1024) -> None:
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max_length)d character.",
                    "This password is too long. It must contain at most %(max_length)d characters.",
                    self.max_length,
                ),
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return f"Your password can be up to {self.max_length} characters long; spaces are allowed."
