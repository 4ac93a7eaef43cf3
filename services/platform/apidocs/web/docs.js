// Renders the OpenAPI document named by the page's data-spec-url with
// Swagger UI. It is a file of its own, not an inline script, because the
// page's Content-Security-Policy runs scripts from this origin only.
"use strict";

const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  // Swagger UI would otherwise fetch a badge from validator.swagger.io,
  // which the CSP (rightly) refuses.
  validatorUrl: null,
  // Every operation listed, none expanded: the page is an index first.
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
});
