// The site's only script: small accessibility helpers for forms (loaded with defer; no inline script).
document.addEventListener("DOMContentLoaded", function () {
  // Tie each field's error messages to its input, so a screen reader reads them with the field
  // (Django links the first one itself; a field can have several).
  document.querySelectorAll(".field.has-error").forEach(function (field) {
    var input = field.querySelector("input, select, textarea");
    var errors = Array.prototype.map.call(field.querySelectorAll(".error[id]"), function (error) { return error.id; });
    if (!input || !errors.length) { return; }
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    errors.forEach(function (id) { if (described.indexOf(id) === -1) { described.push(id); } });
    input.setAttribute("aria-describedby", described.join(" "));
  });
  // Put the keyboard focus on the first field with an error, so it is read out and fixed first.
  var invalid = document.querySelector(".has-error input, .has-error select, .has-error textarea");
  if (invalid) { invalid.focus(); }
});
