// The facets of a large relation: the page is sent before they are counted (catalog/facet_pages.py);
// this fetches them from the facets fragment, with the page's own query string, and puts them in
// place of the placeholder. Charts (charts.js) listen for "portal:facets" to draw in the new part.
(function () {
  "use strict";
  var placeholder = document.querySelector("[data-facets-url]");
  if (!placeholder || !window.fetch) {
    return;
  }
  var status = placeholder.querySelector("[role=status]");

  function failed(message) {
    placeholder.setAttribute("aria-busy", "false");
    placeholder.setAttribute("data-facets", "failed");
    if (status) {
      status.textContent = message;
    }
  }

  fetch(placeholder.getAttribute("data-facets-url"), {headers: {"Accept": "text/html"}, credentials: "same-origin"})
    .then(function (response) {
      return response.text().then(function (text) {
        return {ok: response.ok, text: text};
      });
    })
    .then(function (answer) {
      var holder = document.createElement("div");
      holder.innerHTML = answer.text;
      if (!answer.ok) {
        failed(holder.textContent.trim() || "The facets could not be counted.");
        return;
      }
      var facets = holder.firstElementChild;
      if (!facets) {  // no facet to show after all
        placeholder.remove();
        return;
      }
      facets.setAttribute("data-facets", "loaded");
      placeholder.replaceWith(facets);
      document.dispatchEvent(new CustomEvent("portal:facets", {detail: facets}));
    })
    .catch(function () {
      failed("The facets could not be counted: the server did not answer. Reload the page to try again.");
    });
})();
