"""The soft authenticator (tests/support/authenticator.py) against py_webauthn alone, no app code.

Its honest responses must verify with ``verify_registration_response`` and
``verify_authentication_response``, and each forgery must make py_webauthn refuse it for the
reason forged: otherwise a passkey test that "proves" a server refuses a wrong origin could be
refusing a broken response instead.
"""

from __future__ import annotations

import json
import uuid

import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    COSEAlgorithmIdentifier,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tests.support.authenticator import SOFT_AAGUID, SoftAuthenticator, b64url

RP_ID = "localhost"
ORIGIN = "http://localhost:8123"
USER_ID = b"user-handle-of-ada-0123456789abcdef"


def registration_options(*, algorithms=None, resident_key=ResidentKeyRequirement.REQUIRED):
    """What the server sends to the browser for a registration, and the challenge it keeps."""
    options = generate_registration_options(
        rp_id=RP_ID,
        rp_name="Auth done right",
        user_id=USER_ID,
        user_name="ada@example.com",
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=resident_key, user_verification=UserVerificationRequirement.REQUIRED
        ),
        **({"supported_pub_key_algs": algorithms} if algorithms else {}),
    )
    return json.loads(options_to_json(options)), options.challenge


def authentication_options(credential_id: bytes | None = None):
    options = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=credential_id)] if credential_id else None,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(options_to_json(options)), options.challenge


def verify_registration(response: dict, challenge: bytes):
    return verify_registration_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )


def verify_authentication(response: dict, challenge: bytes, *, public_key: bytes, sign_count: int):
    return verify_authentication_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=public_key,
        credential_current_sign_count=sign_count,
        require_user_verification=True,
    )


@pytest.fixture
def registered():
    """An authenticator with its credential registered; the verified registration alongside."""
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    options, challenge = registration_options()
    return authenticator, verify_registration(authenticator.register(options), challenge)


# --- honest responses -------------------------------------------------------------


def test_a_registration_response_verifies_and_carries_the_credential_and_its_key():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    options, challenge = registration_options()
    response = authenticator.register(options)

    verified = verify_registration(response, challenge)

    assert verified.credential_id == authenticator.credential_id
    assert len(authenticator.credential_id) == 32
    assert verified.credential_public_key == authenticator.public_key_cose
    assert verified.sign_count == 0
    assert verified.aaguid == str(uuid.UUID(bytes=SOFT_AAGUID))
    assert verified.fmt == "none"
    assert verified.user_verified is True
    assert verified.credential_device_type == CredentialDeviceType.SINGLE_DEVICE
    assert verified.credential_backed_up is False
    assert authenticator.user_handle == USER_ID


def test_a_registration_response_is_in_the_json_form_a_browser_posts():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    options, _ = registration_options()
    response = authenticator.register(options)

    assert response["id"] == response["rawId"] == b64url(authenticator.credential_id)
    assert "=" not in response["id"] + response["response"]["attestationObject"]
    assert response["type"] == "public-key"
    assert response["clientExtensionResults"] == {}
    assert response["authenticatorAttachment"] == "platform"
    assert response["response"]["transports"] == ["internal"]
    parsed = parse_registration_credential_json(json.dumps(response))
    assert parsed.raw_id == authenticator.credential_id
    client_data = json.loads(parsed.response.client_data_json)
    assert client_data == {"type": "webauthn.create", "challenge": options["challenge"], "origin": ORIGIN,
                           "crossOrigin": False}


def test_an_authentication_response_verifies_with_the_next_sign_count_and_the_user_handle(registered):
    authenticator, registration = registered
    for expected_count in (1, 2):
        options, challenge = authentication_options(authenticator.credential_id)
        response = authenticator.authenticate(options)

        verified = verify_authentication(
            response, challenge, public_key=registration.credential_public_key, sign_count=authenticator.sign_count - 1
        )

        assert verified.new_sign_count == expected_count == authenticator.sign_count
        assert verified.user_verified is True
        assert parse_authentication_credential_json(json.dumps(response)).response.user_handle == USER_ID


def test_a_synced_passkey_says_so_in_its_backup_flags():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, backup_eligible=True, backup_state=True)
    options, challenge = registration_options()
    verified = verify_registration(authenticator.register(options), challenge)
    assert verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert verified.credential_backed_up is True

    options, challenge = authentication_options()
    assertion = verify_authentication(
        authenticator.authenticate(options), challenge, public_key=verified.credential_public_key, sign_count=0
    )
    assert assertion.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert assertion.credential_backed_up is True


def test_a_non_discoverable_credential_sends_no_user_handle_and_cannot_meet_a_resident_key_requirement():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, discoverable=False)
    with pytest.raises(ValueError, match="discoverable"):
        authenticator.register(registration_options()[0])

    options, challenge = registration_options(resident_key=ResidentKeyRequirement.DISCOURAGED)
    registration = verify_registration(authenticator.register(options), challenge)
    options, challenge = authentication_options(authenticator.credential_id)
    response = authenticator.authenticate(options)
    assert "userHandle" not in response["response"]
    verify_authentication(response, challenge, public_key=registration.credential_public_key, sign_count=0)


def test_a_missing_or_chosen_user_handle_is_sent_as_asked(registered):
    authenticator, registration = registered
    options, challenge = authentication_options()
    assert "userHandle" not in authenticator.authenticate(options, user_handle=None)["response"]
    other = authenticator.authenticate(options, user_handle=b"someone else")
    assert parse_authentication_credential_json(other).response.user_handle == b"someone else"
    assert authenticator.authenticate(options, user_handle="not*base64")["response"]["userHandle"] == "not*base64"


def test_options_it_could_not_satisfy_are_refused_like_a_browser_would():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    with pytest.raises(ValueError, match="ES256"):
        authenticator.register(registration_options(algorithms=[COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256])[0])
    foreign, _ = registration_options()
    foreign["rp"]["id"] = "example.com"
    with pytest.raises(ValueError, match="RP id 'example.com'"):
        authenticator.register(foreign)


# --- forgeries: py_webauthn refuses each for the reason forged --------------------


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"origin": "http://localhost:9999"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
        ({"challenge": b64url(b"a challenge from another ceremony")}, "challenge was not expected challenge"),
        ({"user_verified": False}, "User verification is required"),
        ({"type_": "webauthn.get"}, "Unexpected client data type"),
    ],
    ids=["origin", "rp-id", "challenge", "user-verification", "type"],
)
def test_a_forged_registration_is_refused(override, reason):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    options, challenge = registration_options()
    with pytest.raises(InvalidRegistrationResponse, match=reason):
        verify_registration(authenticator.register(options, **override), challenge)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"origin": "http://127.0.0.1:8123"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
        ({"challenge": b64url(b"a challenge from another ceremony")}, "challenge was not expected challenge"),
        ({"user_verified": False}, "User verification is required"),
        ({"sign_count": 2}, "sign count of 2 was not greater than current count of 2"),
        ({"sign_count": 1}, "sign count of 1 was not greater than current count of 2"),
        ({"type_": "webauthn.create"}, "Unexpected client data type"),
    ],
    ids=["origin", "rp-id", "challenge", "user-verification", "sign-count-repeated", "sign-count-regressed", "type"],
)
def test_a_forged_assertion_is_refused(registered, override, reason):
    authenticator, registration = registered
    for _ in range(2):
        authenticator.authenticate(authentication_options()[0])
    options, challenge = authentication_options(authenticator.credential_id)
    with pytest.raises(InvalidAuthenticationResponse, match=reason):
        verify_authentication(
            authenticator.authenticate(options, **override),
            challenge,
            public_key=registration.credential_public_key,
            sign_count=2,
        )


def test_a_replayed_assertion_is_refused_once_the_server_has_its_count(registered):
    authenticator, registration = registered
    options, challenge = authentication_options()
    response = authenticator.authenticate(options)
    first = verify_authentication(response, challenge, public_key=registration.credential_public_key, sign_count=0)
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        verify_authentication(
            response, challenge, public_key=registration.credential_public_key, sign_count=first.new_sign_count
        )


def test_a_forged_sign_count_leaves_the_authenticators_own_counter_alone(registered):
    authenticator, _ = registered
    options, _ = authentication_options()
    authenticator.authenticate(options, sign_count=40)
    assert authenticator.sign_count == 0
    authenticator.authenticate(options)
    assert authenticator.sign_count == 1


def test_a_signature_by_another_key_is_refused(registered):
    authenticator, registration = registered
    impostor = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    impostor.credential_id = authenticator.credential_id
    impostor.user_handle = authenticator.user_handle
    options, challenge = authentication_options()
    with pytest.raises(InvalidAuthenticationResponse, match="Could not verify authentication signature"):
        verify_authentication(
            impostor.authenticate(options), challenge, public_key=registration.credential_public_key, sign_count=0
        )
