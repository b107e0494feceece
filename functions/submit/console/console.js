// The operators' console: every number and job on it is read from the API with the caller's
// ID token. Admins get the lanes, the jobs and the actions (/admin/...); a clinic's vet gets
// their clinic's cases, read-only (/pre-diagnoses); anyone else gets nothing, and nothing is
// requested for them. Text from the API is only ever set as textContent.
(function () {
  "use strict";
  var auth = window.prediagAuth;
  var LANES_EVERY_MS = 3000;
  var JOBS_EVERY_MS = 5000;
  var JOB_EVERY_MS = 2000;
  var PAGE_SIZE = 20;

  var session = null; // {token, claims}
  var role = null; // "admin" | "vet"
  var filters = {};
  var cursors = [null]; // the cursor of each page seen, newest first
  var nextCursor = null;
  var selected = new Set();
  var openJob = null;
  var timers = [];

  // ------------------------------------------------------------------ helpers
  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.className = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function when(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    return isNaN(date) ? String(iso) : date.toLocaleString();
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function toast(message, isError) {
    var node = $("toast");
    node.textContent = message;
    node.className = isError ? "error" : "";
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { node.hidden = true; }, 6000);
  }

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  function api(path, options) {
    options = options || {};
    var headers = { Authorization: session.token };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: options.method || "GET",
      headers: headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.status === 401) {
          signedOut("Your session has expired: sign in again.");
          throw new ApiError(401, "signed out");
        }
        if (!response.ok) {
          throw new ApiError(response.status, (data && data.message) || response.statusText);
        }
        return data;
      });
    });
  }

  function failed(what) {
    return function (error) {
      if (error && error.status === 401) return;
      toast(what + ": " + (error && error.message ? error.message : error), true);
    };
  }

  function every(ms, fn) {
    timers.push(setInterval(function () {
      if (!$("confirm").open && !document.hidden) fn();
    }, ms));
  }

  // ------------------------------------------------------------------ confirmation
  function confirmAction(title, body, okLabel) {
    var dialog = $("confirm");
    $("confirm-title").textContent = title;
    clear($("confirm-body")).appendChild(body);
    var ok = $("confirm-ok");
    ok.hidden = !okLabel;
    ok.textContent = okLabel || "";
    $("confirm-cancel").textContent = okLabel ? "Cancel" : "Close";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "ok");
      });
      dialog.showModal();
    });
  }

  // ------------------------------------------------------------------ sign-in
  function signedOut(error) {
    timers.forEach(clearInterval);
    timers = [];
    session = null;
    ["nav", "lanes", "jobs", "job", "no-access"].forEach(function (id) { show(id, false); });
    show("signed-out", true);
    $("sign-in-error").textContent = error || "";
    show("sign-in-error", Boolean(error));
    var url = auth.loginUrl();
    show("sign-in", Boolean(url));
    show("sign-in-local", !url);
    if (url) $("sign-in").href = url;
  }

  function start() {
    var error = auth.takeFromFragment();
    session = auth.current();
    if (!session) return signedOut(error);
    var groups = auth.groups(session.claims);
    var clinic = session.claims["custom:clinic_id"];
    role = groups.indexOf("admins") >= 0 ? "admin" : groups.indexOf("vets") >= 0 && clinic ? "vet" : null;
    show("signed-out", false);
    show("nav", true);
    var name = session.claims.email || session.claims["cognito:username"] || session.claims.sub;
    $("who").textContent = name + (role === "admin" ? " (admin)" : role === "vet" ? " (vet, " + clinic + ")" : "");
    var dashboard = auth.settings().dashboard;
    if (dashboard && role === "admin") {
      $("dashboard-link").href = dashboard;
      show("dashboard-link", true);
    }
    $("sign-out").addEventListener("click", auth.signOut);
    document.body.dataset.role = role || "none";
    if (!role) return show("no-access", true);
    setUpJobs();
    if (role === "admin") {
      show("lanes", true);
      loadLanes();
      every(LANES_EVERY_MS, loadLanes);
    }
    every(JOBS_EVERY_MS, loadJobs);
    every(JOB_EVERY_MS, function () {
      if (openJob) loadJob(openJob.id); // a finished job still gets its notifications
    });
  }

  // ------------------------------------------------------------------ lanes (admins)
  function loadLanes() {
    return api("admin/queues").then(renderLanes, failed("Lanes"));
  }

  function analysisCell(lane, note) {
    if (lane.analysis === "Enabled") return el("td", { class: "ok", text: "running" });
    if (lane.analysis === "Disabled") return el("td", { class: "warn", text: "paused" });
    if (lane.analysis) return el("td", { class: "warn", text: lane.analysis.toLowerCase() });
    return el("td", { class: "muted", title: note || "", text: "unknown" });
  }

  function renderLanes(stats) {
    var body = clear($("lanes-table").tBodies[0]);
    stats.lanes.forEach(function (lane) {
      var buttons = el("td", { class: "row-actions" });
      if (lane.analysis !== "Disabled") {
        buttons.appendChild(el("button", { type: "button", "data-action": "pause", onclick: function () { switchLane(lane.lane, false); }, text: "Pause" }));
      }
      if (lane.analysis !== "Enabled") {
        buttons.appendChild(el("button", { type: "button", "data-action": "resume", onclick: function () { switchLane(lane.lane, true); }, text: "Resume" }));
      }
      body.appendChild(el("tr", { "data-lane": lane.lane },
        el("th", { text: lane.lane }),
        el("td", { "data-count": "waiting", text: lane.waiting }),
        el("td", { "data-count": "active", text: lane.active }),
        el("td", { "data-count": "delayed", text: lane.delayed }),
        el("td", { "data-count": "retrying", text: lane.retrying }),
        el("td", { "data-count": "dead", class: lane.dead ? "bad" : "", text: lane.dead }),
        el("td", { "data-count": "oldest", text: duration(lane.oldestWaitingSeconds) }),
        analysisCell(lane, stats.analysisError),
        buttons));
    });
    $("records-line").textContent =
      "records: " + stats.pending + " pending, " + stats.processing + " processing, " +
      stats.completed + " completed, " + stats.failed + " failed, " + stats.refused + " refused" +
      (stats.retryingExact ? "" : " (waiting times over the newest 1000 pending)");
    $("lanes-updated").textContent = "updated " + new Date(stats.at).toLocaleTimeString();
  }

  function switchLane(lane, enable) {
    var verb = enable ? "Resume" : "Pause";
    var text = enable
      ? "The analysis of the " + lane + " lane starts again with the jobs waiting in it."
      : "The analysis of the " + lane + " lane stops. Submissions are still accepted and wait in the lane.";
    confirmAction(verb + " the " + lane + " lane?", el("p", { text: text }), verb).then(function (ok) {
      if (!ok) return;
      api(enable ? "admin/resume" : "admin/pause", { method: "POST", body: { lanes: [lane] } })
        .then(function (result) {
          var states = result.mappings.map(function (m) { return m.lane + ": " + m.state; });
          toast(verb + "d: " + states.join(", "));
          loadLanes();
        }, failed(verb));
    });
  }

  // ------------------------------------------------------------------ jobs
  var ADMIN_COLUMNS = ["", "created", "status", "lane", "urgency", "clinic", "species", "attempts", "last error", "id"];
  var VET_COLUMNS = ["created", "status", "lane", "urgency", "pet", "species", "id"];

  function setUpJobs() {
    show("jobs", true);
    var admin = role === "admin";
    $("jobs-title").textContent = admin ? "Jobs" : "Your clinic's cases";
    show("filters", admin);
    show("job-actions", admin);
    var head = clear($("jobs-table").tHead.rows[0]);
    (admin ? ADMIN_COLUMNS : VET_COLUMNS).forEach(function (name) {
      head.appendChild(el("th", { text: name }));
    });
    $("filters").addEventListener("submit", function (event) {
      event.preventDefault();
      var form = new FormData(event.target);
      filters = {};
      ["status", "lane", "clinicId"].forEach(function (name) {
        var value = String(form.get(name) || "").trim();
        if (value) filters[name] = value;
      });
      var since = String(form.get("since") || "");
      if (since) filters.since = new Date(since).toISOString();
      cursors = [null];
      selected.clear();
      loadJobs();
    });
    $("older").addEventListener("click", function () {
      if (!nextCursor) return;
      cursors.push(nextCursor);
      loadJobs();
    });
    $("newer").addEventListener("click", function () {
      if (cursors.length < 2) return;
      cursors.pop();
      loadJobs();
    });
    $("redrive-selected").addEventListener("click", function () {
      redrive(Array.from(selected));
    });
    $("redrive-failed").addEventListener("click", function () {
      redrive(null);
    });
    loadJobs();
  }

  function jobsUrl() {
    var query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    var cursor = cursors[cursors.length - 1];
    if (role === "admin") {
      Object.keys(filters).forEach(function (name) { query.set(name, filters[name]); });
    }
    if (cursor) query.set("cursor", cursor);
    return (role === "admin" ? "admin/jobs?" : "pre-diagnoses?") + query.toString();
  }

  function loadJobs() {
    var url = jobsUrl();
    return api(url).then(function (page) {
      if (url !== jobsUrl()) return; // the filters or the page changed meanwhile
      renderJobs(page);
    }, failed("Jobs"));
  }

  function statusCell(status) {
    return el("td", { class: "status " + status, text: status });
  }

  function renderJobs(page) {
    var body = clear($("jobs-table").tBodies[0]);
    var admin = role === "admin";
    page.items.forEach(function (job) {
      var open = el("a", { href: "#", class: "job-link", text: job.id, onclick: function (event) {
        event.preventDefault();
        loadJob(job.id, true);
      } });
      var row;
      if (admin) {
        var box = el("input", { type: "checkbox", "aria-label": "select " + job.id, onchange: function (event) {
          if (event.target.checked) selected.add(job.id); else selected.delete(job.id);
          $("redrive-selected").disabled = selected.size === 0;
        } });
        box.checked = selected.has(job.id);
        row = el("tr", { "data-id": job.id, "data-status": job.status },
          el("td", null, box),
          el("td", { text: when(job.createdAt) }),
          statusCell(job.status),
          el("td", { text: job.lane }),
          el("td", { text: job.urgency }),
          el("td", { text: job.clinicId }),
          el("td", { text: job.species }),
          el("td", { text: job.attempts }),
          el("td", { class: "error-text", text: job.lastError || "" }),
          el("td", null, open));
      } else {
        row = el("tr", { "data-id": job.id, "data-status": job.status },
          el("td", { text: when(job.createdAt) }),
          statusCell(job.status),
          el("td", { text: job.lane }),
          el("td", { text: job.urgency }),
          el("td", { text: job.petName || "" }),
          el("td", { text: job.species }),
          el("td", null, open));
      }
      body.appendChild(row);
    });
    show("jobs-empty", page.items.length === 0);
    nextCursor = page.nextCursor || null;
    $("older").disabled = !nextCursor;
    $("newer").disabled = cursors.length < 2;
    $("page-info").textContent = "page " + cursors.length;
    $("redrive-selected").disabled = selected.size === 0;
  }

  // ------------------------------------------------------------------ one job
  function loadJob(id, scroll) {
    var path = (role === "admin" ? "admin/jobs/" : "pre-diagnoses/") + encodeURIComponent(id);
    return api(path).then(function (job) {
      if (!scroll && (!openJob || openJob.id !== job.id)) return; // closed, or another opened
      openJob = { id: job.id };
      renderJob(job);
      if (scroll) $("job").scrollIntoView({ behavior: "instant", block: "start" });
    }, failed("Job " + id));
  }

  function field(name, value) {
    return [el("dt", { text: name }), el("dd", { text: value === null || value === undefined ? "–" : value })];
  }

  function list(names, values) {
    var dl = el("dl");
    names.forEach(function (name, i) {
      field(name, values[i]).forEach(function (node) { dl.appendChild(node); });
    });
    return dl;
  }

  function table(columns, rows, attrs) {
    var head = el("tr");
    columns.forEach(function (c) { head.appendChild(el("th", { text: c })); });
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr", row.attrs || {});
      row.cells.forEach(function (cell) {
        tr.appendChild(el("td", { text: cell === null || cell === undefined ? "" : cell }));
      });
      body.appendChild(tr);
    });
    return el("table", attrs || {}, el("thead", null, head), body);
  }

  function renderJob(job) {
    var section = clear($("job"));
    section.hidden = false;
    section.dataset.id = job.id;
    section.dataset.status = job.status;
    var close = el("button", { type: "button", class: "close", onclick: function () {
      openJob = null;
      section.hidden = true;
    }, text: "Close" });
    var heading = el("h2", null, "Job ", el("code", { text: job.id }), " ", el("span", { class: "status " + job.status, id: "job-status", text: job.status }));
    section.appendChild(el("div", { class: "job-head" }, heading, close));
    if (role === "admin" && job.status === "failed") {
      section.appendChild(el("div", { class: "actions" }, el("button", { type: "button", id: "redrive-one", onclick: function () { redrive([job.id]); }, text: "Redrive this job…" })));
    }
    var pet = job.request.pet;
    section.appendChild(el("h3", { text: "Case" }));
    section.appendChild(list(
      ["lane", "urgency", "clinic", "vet", "created", "updated", "redrives", "failure reason"],
      [job.lane, job.urgency, job.clinicId, job.vetId, when(job.createdAt), when(job.updatedAt), job.redrives, job.failureReason]));
    section.appendChild(el("h3", { text: "Request" }));
    section.appendChild(list(
      ["pet", "species", "breed", "sex", "age (years)", "weight (kg)", "onset", "symptoms"],
      [pet.name, pet.species, pet.breed, pet.sex, pet.ageYears, pet.weightKg, job.request.onset, job.request.symptoms.join(", ")]));
    section.appendChild(el("details", null, el("summary", { text: "The owner's description" }), el("p", { class: "owner-text", text: job.request.description })));

    section.appendChild(el("h3", { text: "Triage (" + job.triage.level + ", rules " + job.triage.rulesVersion + ")" }));
    if (job.triage.flags.length) {
      section.appendChild(table(["code", "level", "label", "matched"], job.triage.flags.map(function (f) {
        return { cells: [f.code, f.level, f.label, f.matched] };
      }), { class: "flags" }));
    } else {
      section.appendChild(el("p", { class: "muted", text: "No red flag." }));
    }

    section.appendChild(el("h3", { text: "Attempts (" + job.attempts.length + ")" }));
    if (!job.attempts.length) section.appendChild(el("p", { class: "muted", text: "No attempt yet." }));
    job.attempts.forEach(function (attempt) {
      var box = el("div", { class: "attempt", "data-attempt": attempt.number, "data-outcome": attempt.outcome });
      box.appendChild(el("h4", { text: "Attempt " + attempt.number + ": " + attempt.outcome }));
      box.appendChild(list(["started", "ended", "error"], [when(attempt.startedAt), when(attempt.endedAt), attempt.error]));
      if (attempt.providers.length) {
        box.appendChild(table(
          ["provider", "model", "outcome", "status", "error code", "latency (ms)", "tokens in", "tokens out", "cost (USD)", "retries", "error"],
          attempt.providers.map(function (p) {
            return {
              attrs: { "data-provider": p.provider, "data-outcome": p.outcome },
              cells: [p.provider, p.model, p.outcome, p.statusCode, p.errorCode, p.latencyMs, p.inputTokens, p.outputTokens,
                typeof p.costUsd === "number" ? p.costUsd.toFixed(6) : p.costUsd, p.retries, p.error]
            };
          }), { class: "providers" }));
      }
      section.appendChild(box);
    });

    section.appendChild(el("h3", { text: "Analysis" }));
    var a = job.analysis;
    if (!a) {
      section.appendChild(el("p", { class: "muted", text: "No analysis yet." }));
    } else {
      section.appendChild(list(
        ["method", "urgency", "confidence", "degraded", "missing providers", "summary", "red flags", "disagreements"],
        [a.method, a.urgency, a.confidence, a.degraded ? "yes" : "no", (a.missingProviders || []).join(", "), a.summary,
          (a.redFlags || []).join("; "), (a.disagreements || []).join("; ")]));
      if (a.differentials && a.differentials.length) {
        section.appendChild(table(["condition", "likelihood", "reasoning"], a.differentials.map(function (d) {
          return { cells: [d.condition, d.likelihood, d.reasoning] };
        }), { class: "differentials" }));
      }
    }

    if (role === "admin") {
      section.appendChild(el("h3", { text: "Notifications sent" }));
      var notes = job.notifications || [];
      if (!notes.length) section.appendChild(el("p", { class: "muted", text: "None yet." }));
      else {
        section.appendChild(table(["kind", "status", "urgency", "sent", "message id"], notes.map(function (n) {
          return { attrs: { "data-kind": n.kind }, cells: [n.kind, n.status, n.urgency, when(n.sentAt), n.messageId] };
        }), { class: "notifications" }));
      }
    }
  }

  // ------------------------------------------------------------------ redrive (admins)
  function redrive(ids) {
    var body = ids ? { ids: ids } : {};
    api("admin/redrive", { method: "POST", body: Object.assign({ dryRun: true }, body) }).then(function (preview) {
      var would = preview.items.filter(function (i) { return i.action === "would_redrive"; });
      var rows = preview.items.map(function (i) {
        return { attrs: { "data-id": i.id, "data-action": i.action }, cells: [i.id, i.lane || "", i.action, i.reason || ""] };
      });
      var content = el("div", null,
        el("p", { text: would.length
          ? "A dry run says " + would.length + " job(s) would go back to their lane (failed → pending, history kept):"
          : "A dry run found nothing to redrive." }),
        rows.length ? table(["id", "lane", "dry run", "reason"], rows, { class: "preview" }) : null);
      var title = ids ? "Redrive " + ids.length + " job(s)?" : "Redrive all failed jobs?";
      return confirmAction(title, content, would.length ? "Redrive " + would.length : null).then(function (ok) {
        if (!ok) return;
        return api("admin/redrive", { method: "POST", body: Object.assign({ dryRun: false }, body) }).then(function (report) {
          var done = report.items.filter(function (i) { return i.action === "redriven"; }).length;
          var other = report.items.length - done;
          toast(done + " job(s) redriven" + (other ? ", " + other + " not (see the dry run's reasons)" : ""), done === 0);
          selected.clear();
          loadJobs();
          loadLanes();
          if (openJob) loadJob(openJob.id);
        });
      });
    }).catch(failed("Redrive"));
  }

  document.addEventListener("DOMContentLoaded", start);
})();
