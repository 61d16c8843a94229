/* The add-a-filter form on a relation page: offer only the conditions the chosen column takes.
   Without this script the form lists every condition and the server says which one does not fit. */
(function () {
  "use strict";
  var column = document.getElementById("filter-column");
  var lookup = document.getElementById("filter-lookup");
  var value = document.getElementById("filter-value");
  if (!column || !lookup || !value) {
    return;
  }

  function allowedLookups() {
    var option = column.options[column.selectedIndex];
    return option ? (option.getAttribute("data-lookups") || "").split(" ") : [];
  }

  function update() {
    var allowed = allowedLookups();
    var firstAllowed = null;
    for (var i = 0; i < lookup.options.length; i++) {
      var option = lookup.options[i];
      var ok = allowed.indexOf(option.value) !== -1;
      option.disabled = !ok;
      option.hidden = !ok;
      if (ok && firstAllowed === null) {
        firstAllowed = option;
      }
    }
    var current = lookup.options[lookup.selectedIndex];
    if ((!current || current.disabled) && firstAllowed) {
      firstAllowed.selected = true;
    }
    current = lookup.options[lookup.selectedIndex];
    var hint = current ? current.getAttribute("data-hint") : "";
    value.placeholder = hint || "";
    value.required = !current || current.value !== "isnull";
  }

  column.addEventListener("change", update);
  lookup.addEventListener("change", update);
  update();
})();
