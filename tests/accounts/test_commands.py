"""python manage.py create_user: password from standard input, prints the id."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def create_user(*args, stdin: str, **options) -> str:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        call_command("create_user", *args, stdout=out, **options)
    return out.getvalue()


def test_create_user_reads_the_password_from_stdin_and_prints_the_id():
    output = create_user(
        "Sam.Support@Example.com", role="support", region="EU", name="Sam", stdin="correct horse battery staple\n"
    )

    user = User.objects.get(email="sam.support@example.com")
    assert output.strip() == str(user.pk)
    assert (user.role, user.region, user.name) == ("support", "EU", "Sam")
    assert user.check_password("correct horse battery staple")
    assert not user.is_superuser


def test_create_user_keeps_spaces_inside_the_password():
    create_user("spaces@example.com", role="manager", region="US", stdin="  padded pass phrase  \r\n")
    user = User.objects.get(email="spaces@example.com")
    assert user.check_password("  padded pass phrase  ")
    assert user.region == "US"


def test_create_user_admin_needs_no_region():
    create_user("root.admin@example.com", role="admin", stdin="correct horse battery staple\n")
    assert User.objects.get(email="root.admin@example.com").region == ""


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pw", "too short"),
        ("password1234", "too common"),
        ("margaretthatcher", "too similar"),
    ],
)
def test_create_user_refuses_a_weak_password_with_a_clear_error(password, message):
    with pytest.raises(CommandError, match=message):
        create_user("margaretthatcher@example.com", role="customer", region="EU", stdin=password + "\n")
    assert not User.objects.filter(email="margaretthatcher@example.com").exists()


def test_create_user_accepts_a_128_character_password():
    password = ("tall ships sail north " * 7)[:128]
    create_user("long@example.com", role="customer", region="EU", stdin=password + "\n")
    user = User.objects.get(email="long@example.com")
    assert user.check_password(password)
    assert not user.check_password(password[:127])


def test_create_user_refuses_an_empty_password():
    with pytest.raises(CommandError, match="standard input"):
        create_user("empty@example.com", role="customer", region="EU", stdin="\n")


def test_create_user_refuses_a_duplicate_email_whatever_its_case():
    create_user("dup@example.com", role="customer", region="EU", stdin="correct horse battery staple\n")
    with pytest.raises(CommandError, match="already exists"):
        create_user("DUP@example.com", role="customer", region="EU", stdin="correct horse battery staple\n")


def test_create_user_needs_a_region_for_a_regional_role():
    with pytest.raises(CommandError, match="--region"):
        create_user("noregion@example.com", role="support", stdin="correct horse battery staple\n")


def test_create_user_refuses_an_unknown_role():
    with pytest.raises(CommandError):
        create_user("x@example.com", role="superuser", region="EU", stdin="correct horse battery staple\n")
