// The caller's ID token, for the console and Swagger UI pages (no data is ever in a page).
//
// The token arrives in the URL fragment (#id_token=...): from the user pool's managed login
// (implicit grant), or from the link the local stack prints. A fragment is never sent to a
// server; it is moved to this tab's sessionStorage and removed from the address bar at once.
(function () {
  "use strict";
  var KEY = "prediag.idToken";
  var STATE = "prediag.loginState";

  function decode(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) part += "=";
      var bytes = Uint8Array.from(atob(part), function (c) { return c.charCodeAt(0); });
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  function takeFromFragment() {
    if (!location.hash || location.hash.length < 2) return null;
    var params = new URLSearchParams(location.hash.slice(1));
    var error = params.get("error_description") || params.get("error");
    var token = params.get("id_token");
    var state = params.get("state");
    var expected = sessionStorage.getItem(STATE);
    sessionStorage.removeItem(STATE);
    if (token || error || params.has("access_token")) {
      history.replaceState(null, "", location.pathname + location.search);
    }
    if (error) return error;
    if (!token) return null;
    if (state !== null && state !== expected) return "the sign-in answer does not match this tab";
    sessionStorage.setItem(KEY, token);
    return null;
  }

  function current() {
    var token = sessionStorage.getItem(KEY);
    if (!token) return null;
    var claims = decode(token);
    if (!claims || typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return { token: token, claims: claims };
  }

  function groups(claims) {
    var raw = claims["cognito:groups"];
    if (Array.isArray(raw)) return raw.map(String);
    if (typeof raw === "string") return raw.split(/[\s,\[\]]+/).filter(Boolean);
    return [];
  }

  function settings() {
    var data = document.documentElement.dataset;
    return { domain: data.loginDomain || "", clientId: data.clientId || "", dashboard: data.dashboard || "" };
  }

  function here() {
    return location.origin + location.pathname;
  }

  function loginUrl() {
    var s = settings();
    if (!s.domain || !s.clientId) return null;
    var random = new Uint8Array(16);
    crypto.getRandomValues(random);
    var state = Array.from(random, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    sessionStorage.setItem(STATE, state);
    var query = new URLSearchParams({
      client_id: s.clientId,
      response_type: "token",
      scope: "openid email profile",
      redirect_uri: here(),
      state: state
    });
    return "https://" + s.domain + "/oauth2/authorize?" + query.toString();
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    var s = settings();
    if (s.domain && s.clientId) {
      var query = new URLSearchParams({ client_id: s.clientId, logout_uri: here() });
      location.assign("https://" + s.domain + "/logout?" + query.toString());
    } else {
      location.reload();
    }
  }

  window.prediagAuth = {
    takeFromFragment: takeFromFragment,
    current: current,
    groups: groups,
    settings: settings,
    loginUrl: loginUrl,
    signOut: signOut
  };
})();
