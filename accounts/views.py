"""Account pages: sign in and out, register, profile, passwords, sessions."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit, email_confirmation, login as login_flow, mail, passkeys, services, sessions, throttles
from accounts.forms import LoginForm, ProfileForm, RegistrationForm
from accounts.models import UserSession
from accounts.net import client_ip_key
from accounts.password_reset import password_reset_mail
from accounts.reauth import reauthentication_required
from accounts.redirects import safe_next


@login_not_required
def home(request):
    return render(request, "home.html")


@login_not_required
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    next_url = safe_next(request, settings.LOGIN_REDIRECT_URL)
    # ``reauth`` (OIDC prompt=login, max_age) asks a signed-in user for the password again.
    if request.user.is_authenticated and request.method == "GET" and not request.GET.get("reauth"):
        return redirect(next_url)
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = login_flow.attempt_login(
            request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
        )
        if result.is_success:
            return login_flow.finish_response(request, redirect(next_url), result)
        if result.needs_second_step:
            return redirect(f"{reverse('accounts:login_2fa')}?{urlencode({'next': next_url})}")
        if result.is_throttled:
            form.add_error(None, login_flow.THROTTLED_MESSAGE.format(wait=throttles.wait_text(result.retry_after or 0)))
            status = 429
        else:
            form.add_error(None, login_flow.INVALID_CREDENTIALS_MESSAGE)
            status = 401
    context = {"form": form, "next": next_url, "passkey_unavailable": passkeys.unavailable_reason()}
    response = render(request, "accounts/login.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(result.retry_after)
    return response


@login_not_required
@require_GET
def admin_login_redirect(request):
    """The Django admin signs in through the site's own login page (throttles, audit, sessions)."""
    if request.user.is_authenticated:
        # Signed in, but not an admin: a 403 page, not a loop through the login page.
        raise PermissionDenied("The administration is for the admin role only.")
    return redirect(f"{reverse('accounts:login')}?{urlencode({'next': safe_next(request, '/admin/')})}")


@login_not_required
@require_POST
def logout_view(request):
    login_flow.end_session(request)
    messages.success(request, "You have signed out.")
    return redirect("accounts:login")


@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def register_view(request):
    if request.user.is_authenticated:
        return redirect("/")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST":
        wait = throttles.hit(
            request, group="register:ip", key=client_ip_key(request), rate=settings.REGISTER_RATE_PER_IP
        )
        if wait is not None:
            form.is_valid()
            form.add_error(None, f"Too many registrations from your network. Please wait {throttles.wait_text(wait)}.")
            response = render(request, "accounts/register.html", {"form": form}, status=429)
            response["Retry-After"] = str(wait)
            return response
        if form.is_valid():
            data = form.cleaned_data
            user = services.user_register(
                email=data["email"],
                name=data["name"],
                region=data["region"],
                password=data["password1"],
                request=request,
            )
            login_flow.sign_in(request, user)
            email_confirmation.send_confirmation(user)
            messages.success(request, "Welcome! Your account is ready.")
            return redirect(safe_next(request, "/"))
    return render(request, "accounts/register.html", {"form": form})


@require_http_methods(["GET", "POST"])
def profile_view(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile was saved.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_not_required
@require_http_methods(["GET", "POST"])
def email_confirm_view(request, token):
    user = email_confirmation.user_for_token(token)
    if user is not None and request.method == "POST":
        email_confirmation.confirm(user)
        messages.success(request, "Thank you: your email address is confirmed.")
        return redirect("accounts:profile" if request.user.is_authenticated else "accounts:login")
    return render(request, "accounts/email_confirm.html", {"confirm_user": user}, status=200 if user else 400)


@require_POST
def email_confirm_send_view(request):
    wait = throttles.hit(
        request, group="email-confirm:account", key=str(request.user.pk), rate=settings.EMAIL_CONFIRM_RATE
    )
    if wait is not None:
        messages.error(request, f"A link was sent a moment ago. Please wait {throttles.wait_text(wait)}.")
    elif not request.user.email_verified:
        email_confirmation.send_confirmation(request.user)
        messages.success(request, f"We sent a confirmation link to {request.user.email}.")
    return redirect("accounts:profile")


@sensitive_post_parameters()
@never_cache
@reauthentication_required
@require_http_methods(["GET", "POST"])
def password_change_view(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST":
        wait = throttles.hit(
            request,
            group="password-change:account",
            key=str(request.user.pk),
            rate=settings.PASSWORD_CHANGE_RATE_PER_ACCOUNT,
        )
        if wait is not None:
            form.add_error(None, f"Too many attempts. Please wait {throttles.wait_text(wait)}.")
            response = render(request, "accounts/password_change.html", {"form": form}, status=429)
            response["Retry-After"] = str(wait)
            return response
        if form.is_valid():
            services.password_change(
                request=request, user=request.user, new_password=form.cleaned_data["new_password1"]
            )
            messages.success(request, "Your password was changed. Your other sessions were signed out.")
            return redirect("accounts:profile")
    return render(request, "accounts/password_change.html", {"form": form})


@require_http_methods(["GET"])
def sessions_view(request):
    user_sessions = UserSession.objects.filter(user=request.user)
    return render(
        request,
        "accounts/sessions.html",
        {"user_sessions": user_sessions, "current_key": request.session.session_key},
    )


@require_POST
def session_revoke_view(request, session_id):
    user_session = get_object_or_404(UserSession, pk=session_id, user=request.user)
    is_current = user_session.session_key == request.session.session_key
    if is_current:
        login_flow.end_session(request)
        return redirect("accounts:login")
    sessions.end(user_session)
    audit.record(audit.Event.SESSION_REVOKED, request=request, target=f"session:{session_id}")
    messages.success(request, "That session was signed out.")
    return redirect("accounts:sessions")


@require_POST
def session_revoke_others_view(request):
    ended = sessions.end_all(request.user, except_key=request.session.session_key)
    audit.record(audit.Event.SESSION_REVOKED, request=request, target="sessions:others", reason=f"{ended} ended")
    messages.success(request, f"Signed out {ended} other session{'s' if ended != 1 else ''}.")
    return redirect("accounts:sessions")


class PasswordResetView(auth_views.PasswordResetView):
    """Same page, wording and work in the request whether or not the address has an account."""

    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request, *args, **kwargs):
        email = (request.POST.get("email") or "").strip().lower()
        wait = throttles.hit_all(
            request,
            ("password-reset:ip", client_ip_key(request), settings.PASSWORD_RESET_RATE_PER_IP),
            ("password-reset:account", email, settings.PASSWORD_RESET_RATE_PER_ACCOUNT),
        )
        if wait is not None:
            # Same answer as a sent mail: the throttle must not reveal whether the account exists.
            return redirect(self.success_url)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        # The same task with the same argument for every address: only the task, after the
        # response, finds out whether an account has it (no timing difference to measure).
        mail.send_later(password_reset_mail, email=form.cleaned_data["email"])
        audit.record(audit.Event.PASSWORD_RESET_REQUESTED, request=self.request, target="email:(withheld)")
        return redirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False

    def form_valid(self, form):
        # The new password and the revocation of every session and token land together:
        # never a changed password with the old tokens still alive.
        with transaction.atomic():
            response = super().form_valid(form)
            services.password_reset_complete(request=self.request, user=form.user)
        return response


password_reset_view = login_not_required(PasswordResetView.as_view())
password_reset_done_view = login_not_required(
    auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
)
password_reset_confirm_view = login_not_required(PasswordResetConfirmView.as_view())
password_reset_complete_view = login_not_required(
    auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html")
)
