"""Pages of second factors and step-up: the second sign-in step, TOTP, recovery codes,
passkeys, re-authentication and the security overview.

The passkey ceremonies themselves run in the browser (static/js/passkeys.js) against the
JSON endpoints of ``accounts.api``; these pages carry the URLs in ``data-`` attributes
(the CSP allows no inline script) and handle naming and removal as plain forms.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import factors, login as login_flow, passkeys, reauth, services, throttles
from accounts.forms import PasskeyRenameForm, ReauthenticateForm, SecondStepForm, TotpConfirmForm
from accounts.models import AuditEvent, Passkey
from accounts.reauth import reauthentication_required
from accounts.redirects import safe_next

TOTP_SETUP_KEY = "accounts.totp.setup_secret"  # the secret being set up, until confirmed
SECURITY_EVENTS = 20


@login_not_required
@sensitive_post_parameters("code", "recovery_code")
@never_cache
@require_http_methods(["GET", "POST"])
def login_second_step_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, "/")
    found = login_flow.pending_login(request)
    if found is None:
        messages.info(request, "Please sign in again.")
        return redirect(f"{reverse('accounts:login')}?{request.GET.urlencode()}" if request.GET else "accounts:login")
    form = SecondStepForm(request.POST or None)
    status = 200
    result = None
    if request.method == "POST" and form.is_valid():
        result = login_flow.attempt_second_step(
            request, code=form.cleaned_data["code"], recovery_code=form.cleaned_data["recovery_code"]
        )
        if result.is_success:
            return login_flow.finish_response(request, redirect(next_url), result)
        if result.is_expired:
            messages.info(request, "That sign-in took too long. Please sign in again.")
            return redirect("accounts:login")
        if result.is_throttled:
            form.add_error(None, login_flow.THROTTLED_MESSAGE.format(wait=throttles.wait_text(result.retry_after or 0)))
            status = 429
        else:
            form.add_error(None, login_flow.INVALID_CODE_MESSAGE)
            status = 401
    context = {"form": form, "next": next_url, **_passkey_context(factors.PASSKEY in factors.methods_for(found[0]))}
    response = render(request, "accounts/login_2fa.html", context, status=status)
    if status == 429 and result is not None:
        response["Retry-After"] = str(result.retry_after)
    return response


@sensitive_post_parameters("password", "code")
@never_cache
@require_http_methods(["GET", "POST"])
def reauthenticate_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, reverse("accounts:security"))
    method = login_flow.reauthentication_method(login_flow.signed_in_user(request))
    form = ReauthenticateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = login_flow.attempt_reauthentication(
            request, password=form.cleaned_data["password"], code=form.cleaned_data["code"]
        )
        if result.is_success:
            return redirect(next_url)
        if result.is_throttled:
            wait = throttles.wait_text(result.retry_after or 0)
            form.add_error(None, f"Too many attempts. Please wait {wait} and try again.")
            status = 429
        else:
            form.add_error(None, "That did not match. Try again.")
            status = 401
    user = login_flow.signed_in_user(request)
    context = {
        "form": form,
        "next": next_url,
        "uses_code": factors.has_totp(user),
        "uses_password": method == login_flow.PASSWORD,
        **_passkey_context(method == factors.PASSKEY),
    }
    return render(request, "accounts/reauthenticate.html", context, status=status)


def _passkey_context(offered: bool) -> dict:
    """Whether a page offers a passkey, and why not when the site cannot (an IP origin)."""
    reason = passkeys.unavailable_reason()
    return {"passkey_offered": offered and reason is None, "passkey_unavailable": reason if offered else None}


@sensitive_post_parameters("code")
@never_cache
@reauthentication_required
@require_http_methods(["GET", "POST"])
def totp_view(request: HttpRequest) -> HttpResponse:
    user = login_flow.signed_in_user(request)
    if factors.has_totp(user):
        if request.method == "POST" and request.POST.get("action") == "remove":
            services.totp_disable(user=user, request=request)
            messages.success(request, "The authenticator app was removed.")
            return redirect("accounts:security")
        return render(request, "accounts/totp.html", {"enabled": True})
    secret = request.session.get(TOTP_SETUP_KEY)
    if not isinstance(secret, str) or not secret:
        secret = request.session[TOTP_SETUP_KEY] = factors.new_totp_secret()
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = services.totp_enable(user=user, secret=secret, code=form.cleaned_data["code"], request=request)
        if codes is not None:
            request.session.pop(TOTP_SETUP_KEY, None)
            messages.success(request, "Your authenticator app is set up: sign-in now asks for a code.")
            if codes:
                return render(request, "accounts/recovery_codes.html", {"codes": codes, "left": len(codes)})
            return redirect("accounts:security")
        form.add_error("code", "That code does not match. Check the time on your phone and try the newest code.")
    uri = factors.provisioning_uri(secret, user)
    context = {"enabled": False, "form": form, "secret": secret, "qr_code": factors.qr_code_data_uri(uri)}
    return render(request, "accounts/totp.html", context, status=400 if form.errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _recovery_codes_regenerate(request)
    user = login_flow.signed_in_user(request)
    context = {"codes": None, "left": factors.recovery_codes_left(user), "has_totp": factors.has_second_factor(user)}
    return render(request, "accounts/recovery_codes.html", context)


@reauthentication_required
def _recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    if not factors.has_second_factor(login_flow.signed_in_user(request)):
        messages.info(request, "Set up an authenticator app or a passkey first: recovery codes stand in for them.")
        return redirect("accounts:totp")
    codes = services.recovery_codes_regenerate(user=login_flow.signed_in_user(request), request=request)
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "left": len(codes), "has_totp": True})



@never_cache
@require_http_methods(["GET"])
def security_view(request: HttpRequest) -> HttpResponse:
    user = login_flow.signed_in_user(request)
    events = AuditEvent.objects.filter(Q(actor=user) | Q(target=f"user:{user.pk}")).order_by("-created_at", "-id")
    context = {
        "has_totp": factors.has_totp(user),
        "passkey_count": Passkey.objects.filter(user=user).count(),
        "recovery_codes_left": factors.recovery_codes_left(user),
        "needs_enrolment": factors.needs_enrolment(user),
        "events": events[:SECURITY_EVENTS],
    }
    return render(request, "accounts/security.html", context)


# --- Passkeys ---------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET"])
def passkeys_view(request: HttpRequest) -> HttpResponse:
    """The account's passkeys. Adding one runs in the browser, after a step-up."""
    user = login_flow.signed_in_user(request)
    items = list(Passkey.objects.filter(user=user))
    context = {
        "passkeys": items,
        "unavailable": passkeys.unavailable_reason(),
        "recent": reauth.is_recent(request),
        "reauth_url": f"{reverse('accounts:reauthenticate')}?next={reverse('accounts:passkeys')}",
        "needs_enrolment": factors.needs_enrolment(user),
    }
    return render(request, "accounts/passkeys.html", context)


def _own_passkey(request: HttpRequest, passkey_id) -> Passkey:
    passkey = passkeys.passkey_of(login_flow.signed_in_user(request), passkey_id)
    if passkey is None:
        raise Http404("No such passkey.")  # another account's passkey looks the same
    return passkey


@never_cache
@require_http_methods(["POST"])
def passkey_rename_view(request: HttpRequest, passkey_id) -> HttpResponse:
    passkey = _own_passkey(request, passkey_id)
    form = PasskeyRenameForm(request.POST, prefix=str(passkey.pk))
    if form.is_valid():
        services.passkey_rename(passkey=passkey, name=form.cleaned_data["name"], request=request)
        messages.success(request, f"The passkey is now called “{passkey.name}”.")
    else:
        messages.error(request, "Give the passkey a name of at most 64 characters.")
    return redirect("accounts:passkeys")


@never_cache
@reauthentication_required
@require_http_methods(["GET", "POST"])
def passkey_remove_view(request: HttpRequest, passkey_id) -> HttpResponse:
    """Confirm (GET), then remove (POST). Both after a step-up: removing a factor is sensitive."""
    passkey = _own_passkey(request, passkey_id)
    if request.method == "POST":
        try:
            services.passkey_remove(passkey=passkey, request=request)
        except services.LastFactorRequired as error:
            messages.error(request, error.message)
            return redirect("accounts:passkeys")
        messages.success(request, f"The passkey “{passkey.name}” was removed.")
        return redirect("accounts:passkeys")
    return render(request, "accounts/passkey_remove.html", {"passkey": passkey})
