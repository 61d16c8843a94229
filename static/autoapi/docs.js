// Starts Swagger UI on /api/docs/ (kept out of the page so a strict CSP needs no inline script).
// A large database's /api/schema/ holds only the shared parts and, under x-relation-documents,
// each relation's own OpenAPI document: the picker above the UI lists them by schema (a
// filterable list) and loads the one chosen, so a person reaches any relation without loading
// the world.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  var picker = document.getElementById("relation-picker");
  var schemaSelect = document.getElementById("pick-schema");
  var relationInput = document.getElementById("pick-relation");
  var relationList = document.getElementById("pick-relations");
  var shownUrl = document.getElementById("pick-url");
  var rootUrl = root.dataset.schemaUrl;
  var listing = {};

  window.ui = SwaggerUIBundle({
    url: rootUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "none",
    defaultModelsExpandDepth: 0,
  });

  function load(url) {
    window.ui.specActions.updateUrl(url);
    window.ui.specActions.download(url);
    shownUrl.textContent = url;
    shownUrl.href = url;
  }

  function fillRelations() {
    var names = Object.keys(listing[schemaSelect.value] || {});
    relationList.replaceChildren();
    names.forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      relationList.appendChild(option);
    });
    relationInput.value = "";
    relationInput.placeholder = names.length + " relations: type to filter";
  }

  fetch(rootUrl, { headers: { Accept: "application/json" } })
    .then(function (response) { return response.json(); })
    .then(function (doc) {
      listing = doc["x-relation-documents"] || {};
      var schemas = Object.keys(listing);
      if (!schemas.length) return;  // every path is in /api/schema/ itself
      schemas.forEach(function (schema) {
        var option = document.createElement("option");
        option.value = schema;
        option.textContent = schema + " (" + Object.keys(listing[schema]).length + ")";
        schemaSelect.appendChild(option);
      });
      picker.hidden = false;
      fillRelations();
    });

  schemaSelect.addEventListener("change", fillRelations);
  picker.addEventListener("submit", function (event) {
    event.preventDefault();
    var url = (listing[schemaSelect.value] || {})[relationInput.value];
    if (url) {
      load(url);
      relationInput.setCustomValidity("");
    } else {
      relationInput.setCustomValidity("No relation of this schema has this name");
      relationInput.reportValidity();
    }
  });
  document.getElementById("pick-root").addEventListener("click", function () { load(rootUrl); });
});
