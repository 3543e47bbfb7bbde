// Put the keyboard focus on the first field with an error, so it is read out and fixed first.
document.addEventListener("DOMContentLoaded", function () {
  var invalid = document.querySelector(".has-error input, .has-error select, .has-error textarea");
  if (invalid) { invalid.focus(); }
});
