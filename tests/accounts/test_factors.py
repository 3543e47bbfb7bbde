"""TOTP and recovery codes: replay, drift window, single use, storage, the set-up pages."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.core import mail
from django.test import Client

from accounts import factors, services
from accounts.models import AuditEvent, RecoveryCode, TotpDevice
from tests.factories import TOTP_SECRET, customer, enrol_totp
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db

NOW = 1_800_000_015.0  # 15 s into a 30-s step


def code_at(step: int, secret: str = TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).at(step * 30)


def test_a_code_is_accepted_once_and_refused_when_replayed():
    user = enrol_totp(customer())
    code = code_at(factors.current_step(NOW))
    assert factors.verify_totp(user, code, now=NOW) is True
    assert factors.verify_totp(user, code, now=NOW) is False
    assert factors.verify_totp(user, code, now=NOW + 20) is False  # the next step's window still holds it


def test_a_code_of_an_earlier_step_than_one_used_is_refused():
    user = enrol_totp(customer())
    step = factors.current_step(NOW)
    assert factors.verify_totp(user, code_at(step), now=NOW)
    assert not factors.verify_totp(user, code_at(step - 1), now=NOW)


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_one_step_of_drift_either_way_and_no_more(offset, accepted):
    user = enrol_totp(customer())
    step = factors.current_step(NOW)
    assert factors.verify_totp(user, code_at(step + offset), now=NOW) is accepted


def test_drift_window_edges_at_the_boundaries_of_the_current_step():
    user = enrol_totp(customer())
    start = factors.current_step(NOW) * 30  # first second of the step
    assert factors.matching_step(TOTP_SECRET, code_at(start // 30 - 1), now=start) == start // 30 - 1
    assert factors.matching_step(TOTP_SECRET, code_at(start // 30 - 1), now=start + 29.999) == start // 30 - 1
    assert factors.matching_step(TOTP_SECRET, code_at(start // 30 - 1), now=start + 30) is None
    assert factors.verify_totp(user, code_at(start // 30 + 1), now=start)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5"])
def test_malformed_codes_are_refused(code):
    user = enrol_totp(customer())
    assert factors.verify_totp(user, code) is False


def test_the_secret_is_stored_encrypted():
    user = enrol_totp(customer())
    stored = TotpDevice.objects.get(user=user).encrypted_secret
    assert TOTP_SECRET not in stored
    assert factors.decrypt_secret(stored) == TOTP_SECRET


def test_a_recovery_code_works_once_and_is_stored_hashed():
    user = enrol_totp(customer())
    codes = services.recovery_codes_regenerate(user=user)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert not any(code in h or factors.normalize_recovery_code(code) in h for code in codes for h in stored)
    assert factors.use_recovery_code(user, codes[0].upper()) is True  # case and dashes do not matter
    assert factors.use_recovery_code(user, codes[0]) is False
    assert factors.recovery_codes_left(user) == 9


def test_a_new_set_of_recovery_codes_kills_the_old_one():
    user = enrol_totp(customer())
    old = services.recovery_codes_regenerate(user=user)
    new = services.recovery_codes_regenerate(user=user)
    assert factors.use_recovery_code(user, old[1]) is False
    assert factors.use_recovery_code(user, new[1]) is True


def test_someone_elses_recovery_code_does_not_work():
    alice, bob = enrol_totp(customer()), enrol_totp(customer())
    codes = services.recovery_codes_regenerate(user=alice)
    assert factors.use_recovery_code(bob, codes[0]) is False


# --- The set-up page ---------------------------------------------------------------------------


def _secret_on(page: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)


def test_setting_up_totp_shows_a_qr_code_and_the_secret_then_needs_a_first_code():
    user = customer()
    client = page_client(user)
    page = client.get("/accounts/2fa/totp/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html
    csp = page["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp and "unsafe-inline" not in csp
    secret = _secret_on(html)
    assert client.get("/accounts/2fa/totp/").content.decode().count(secret) == 1  # same secret until confirmed

    wrong = client.post("/accounts/2fa/totp/", {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 400 and not TotpDevice.objects.filter(user=user).exists()

    done = client.post("/accounts/2fa/totp/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert factors.decrypt_secret(TotpDevice.objects.get(user=user).encrypted_secret) == secret
    assert AuditEvent.objects.filter(actor=user, event="factor_added").exists()
    assert [m.subject for m in mail.outbox] == ["An authenticator app was added to your account"]
    # The confirming code cannot be replayed to sign in.
    assert factors.verify_totp(user, pyotp.TOTP(secret).now()) is False
    # The secret is never shown again.
    assert secret not in client.get("/accounts/2fa/totp/").content.decode()


def test_removing_totp_removes_the_recovery_codes_and_is_audited_and_mailed():
    user = enrol_totp(customer())
    services.recovery_codes_regenerate(user=user)
    client = Client()
    client.post("/accounts/login/", {"email": user.email, "password": "a long test passphrase 42"})
    client.post("/accounts/login/2fa/", {"code": pyotp.TOTP(TOTP_SECRET).now()})
    response = client.post("/accounts/2fa/totp/", {"action": "remove"})
    assert response.status_code == 302
    assert not TotpDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(actor=user, event="factor_removed").exists()
    assert "An authenticator app was removed from your account" in [m.subject for m in mail.outbox]


def test_recovery_codes_page_says_how_many_are_left_and_makes_a_new_set():
    user = enrol_totp(customer())
    services.recovery_codes_regenerate(user=user)
    client = Client()
    client.post("/accounts/login/", {"email": user.email, "password": "a long test passphrase 42"})
    client.post("/accounts/login/2fa/", {"code": pyotp.TOTP(TOTP_SECRET).now()})
    assert "You have 10 unused recovery codes" in client.get("/accounts/2fa/recovery-codes/").content.decode()
    response = client.post("/accounts/2fa/recovery-codes/")
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.content.decode())
    assert len(codes) == 10 and factors.use_recovery_code(user, codes[0])


def test_the_secret_never_reaches_the_logs(caplog):
    user = customer()
    client = page_client(user)
    secret = _secret_on(client.get("/accounts/2fa/totp/").content.decode())
    client.post("/accounts/2fa/totp/", {"code": pyotp.TOTP(secret).now()})
    assert secret not in caplog.text


def test_the_security_page_shows_factors_codes_left_and_the_last_20_events():
    user = enrol_totp(customer())
    services.recovery_codes_regenerate(user=user)
    other = customer()
    for _ in range(25):
        AuditEvent.objects.create(event="login_failed", outcome="failure", actor=user)
    AuditEvent.objects.create(event="login_failed", outcome="failure", actor=other)
    client = Client()
    client.post("/accounts/login/", {"email": user.email, "password": "a long test passphrase 42"})
    client.post("/accounts/login/2fa/", {"code": pyotp.TOTP(TOTP_SECRET).now()})
    page = client.get("/accounts/security/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "10 left" in html and ">On<" in html
    assert 'href="/accounts/tokens/"' in html and 'href="/accounts/apps/"' in html  # tokens and apps, one place
    events = html.split('id="security-events"')[1]
    assert events.count("<tr>") == 1 + 20  # the header row and the last 20 events
    assert "Second factor used" in events  # the newest first
