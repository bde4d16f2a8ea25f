// Swagger UI for /api/docs, started from a file (the app's CSP allows no inline script). "Try it out" sends
// the session's CSRF token, as every state-changing call needs it.
window.addEventListener("load", function () {
  fetch("/api/session", { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (session) {
      window.SwaggerUIBundle({
        url: "/api/openapi.json",
        dom_id: "#swagger-ui",
        presets: [window.SwaggerUIBundle.presets.apis],
        requestInterceptor: function (req) {
          req.headers["X-CSRF-Token"] = session.csrf_token;
          return req;
        },
      });
    });
});
