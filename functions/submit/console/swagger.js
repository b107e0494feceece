// Swagger UI of this API, served by the API itself (no other origin). "Try it out" sends the
// signed-in caller's ID token (see auth.js); without one, the Authorize button takes a token.
(function () {
  "use strict";
  var auth = window.prediagAuth;

  function base() {
    return location.pathname.replace(/swagger\/?$/, "");
  }

  function start() {
    auth.takeFromFragment();
    var session = auth.current();
    var who = document.getElementById("who");
    if (session) {
      who.textContent = "signed in as " + (session.claims.email || session.claims.sub);
    } else {
      var url = auth.loginUrl();
      who.textContent = "not signed in: calls need a token (Authorize)";
      if (url) {
        var link = document.getElementById("sign-in");
        link.href = url;
        link.hidden = false;
      }
    }
    fetch("swagger?format=json", { cache: "no-store", credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (spec) {
        spec.servers = [{ url: (location.origin + base()).replace(/\/$/, ""), description: "this API" }];
        window.ui = window.SwaggerUIBundle({
          spec: spec,
          dom_id: "#swagger-ui",
          deepLinking: false,
          docExpansion: "list",
          filter: true,
          presets: [window.SwaggerUIBundle.presets.apis],
          requestInterceptor: function (request) {
            var current = auth.current();
            var headers = request.headers || {};
            if (current && !headers.Authorization) headers.Authorization = current.token;
            request.headers = headers;
            return request;
          }
        });
      });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
