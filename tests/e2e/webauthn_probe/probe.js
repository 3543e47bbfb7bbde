// The browser side of tests/e2e/test_virtual_authenticator.py: no server checks anything here,
// the test reads what the page reports and what the virtual authenticator holds.
"use strict";

const result = document.getElementById("result");
const randomBytes = (length) => crypto.getRandomValues(new Uint8Array(length));
const base64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
let userId = null;

function report(status, data) {
  result.textContent = JSON.stringify(data);
  result.dataset.status = status;
}

// authenticatorData: rpIdHash (32 bytes), flags (1), signCount (4, big-endian).
function describe(authenticatorData) {
  const view = new DataView(authenticatorData);
  const flags = view.getUint8(32);
  return {userPresent: (flags & 1) !== 0, userVerified: (flags & 4) !== 0, signCount: view.getUint32(33)};
}

async function createPasskey() {
  userId = randomBytes(16);
  const credential = await navigator.credentials.create({
    publicKey: {
      challenge: randomBytes(32),
      rp: {id: location.hostname, name: "WebAuthn probe"},
      user: {id: userId, name: "probe@example.com", displayName: "Probe"},
      pubKeyCredParams: [{type: "public-key", alg: -7}],
      authenticatorSelection: {residentKey: "required", requireResidentKey: true, userVerification: "required"},
      attestation: "none",
      timeout: 10000,
    },
  });
  return {id: credential.id, userId: base64url(userId), ...describe(credential.response.getAuthenticatorData())};
}

async function signIn() {
  const assertion = await navigator.credentials.get({
    publicKey: {challenge: randomBytes(32), rpId: location.hostname, userVerification: "required", timeout: 10000},
  });
  return {
    id: assertion.id,
    userHandle: assertion.response.userHandle ? base64url(assertion.response.userHandle) : null,
    ...describe(assertion.response.authenticatorData),
  };
}

function onClick(id, ceremony) {
  document.getElementById(id).addEventListener("click", async () => {
    result.dataset.status = "pending";
    try {
      report("ok", await ceremony());
    } catch (error) {
      report("error", {name: error.name, message: error.message});
    }
  });
}

onClick("create", createPasskey);
onClick("get", signIn);
