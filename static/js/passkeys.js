// Passkeys (WebAuthn) on the pages that offer them; loaded with defer, no inline script (strict CSP).
// Each page marks an element with data-passkey="register|login|second-step|reauthenticate" and
// data-options-url / data-verify-url (JSON endpoints of /api/auth/), data-body-key (what the
// credential is posted as) and data-next (where to go after). The CSRF token comes from the
// csrfmiddlewaretoken input of the page. The server keeps the challenge; this only carries bytes.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "====".slice(base64.length % 4 || 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIds(list) {
    return (list || []).map(function (item) { return Object.assign({}, item, { id: toBytes(item.id) }); });
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      user: Object.assign({}, options.user, { id: toBytes(options.user.id) }),
      excludeCredentials: decodeIds(options.excludeCredentials)
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      allowCredentials: decodeIds(options.allowCredentials)
    });
  }

  // The WebAuthn JSON form (what PublicKeyCredential.toJSON() gives where browsers have it).
  function credentialJSON(credential) {
    var response = credential.response, json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      if (response.userHandle) { json.response.userHandle = toText(response.userHandle); }
    }
    return json;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.message || "The server refused the request (" + response.status + ")."); }
        return data;
      });
    });
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") { return "The passkey request was cancelled or timed out. Try again."; }
    if (error && error.name === "InvalidStateError") { return "This device already holds a passkey for your account."; }
    if (error && error.name === "SecurityError") { return "This browser refused the passkey for this site's address."; }
    return (error && error.message) || "Something went wrong with the passkey. Try again.";
  }

  // A first factor comes with recovery codes, shown this once (the page's hidden section).
  function showRecoveryCodes(codes) {
    var section = document.getElementById("passkey-recovery-codes");
    var list = section && section.querySelector("ul");
    if (!list) { return; }
    codes.forEach(function (code) {
      var item = document.createElement("li");
      var text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    section.hidden = false;
    var heading = section.querySelector("h2");
    if (heading) { heading.focus(); }
  }

  function setup(box) {
    var kind = box.getAttribute("data-passkey");
    var button = box.querySelector("[data-passkey-start]");
    var status = box.querySelector(".passkey-status");
    var nameInput = box.querySelector("[data-passkey-name]");
    var conditional = null;  // the AbortController of a waiting autofill request

    function say(text) { if (status) { status.textContent = text; } }

    if (!window.PublicKeyCredential || !navigator.credentials) {
      if (button) { button.disabled = true; }
      say("This browser cannot use passkeys. Use your password" + (kind === "login" ? "" : " or a code") + " instead.");
      return;
    }

    function finish(credential) {
      var body = {};
      body[box.getAttribute("data-body-key")] = credentialJSON(credential);
      if (kind === "register" && nameInput && nameInput.value.trim()) { body.name = nameInput.value.trim(); }
      say("Checking the passkey\u2026");
      return post(box.getAttribute("data-verify-url"), body).then(function (data) {
        if (data.recovery_codes && data.recovery_codes.length) { return showRecoveryCodes(data.recovery_codes); }
        window.location.assign(box.getAttribute("data-next") || "/");
      });
    }

    function ceremony(mediation) {
      return post(box.getAttribute("data-options-url")).then(function (data) {
        if (kind === "register") { return navigator.credentials.create({ publicKey: creationOptions(data.publicKey) }); }
        var request = { publicKey: requestOptions(data.publicKey) };
        if (mediation) {
          conditional = new AbortController();
          request.mediation = mediation;
          request.signal = conditional.signal;
        }
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (!credential) { throw new Error("No passkey was chosen."); }
        return finish(credential);
      });
    }

    if (button) {
      button.addEventListener("click", function () {
        if (conditional) { conditional.abort(); conditional = null; }
        button.disabled = true;
        say(kind === "register" ? "Follow your browser's prompt to create the passkey\u2026" : "Follow your browser's prompt\u2026");
        ceremony(null).catch(function (error) { say(explain(error)); }).then(function () { button.disabled = false; });
      });
    }

    // Conditional UI: passkeys offered in the email field's autofill, where the browser can.
    if (box.getAttribute("data-conditional") === "true" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) { return; }
        ceremony("conditional").catch(function (error) {
          if (error && error.name !== "AbortError") { say(explain(error)); }
        });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-passkey]").forEach(setup);
  });
})();
