// The live view «Сейчас»: server-sent events from /api/v1/now/stream, polling /api/v1/now
// every two seconds where the stream is not available (or keeps failing).
(function () {
  "use strict";
  var configNode = document.getElementById("now-config");
  if (!configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var mode = document.getElementById("now-mode");
  var timer = null;

  function text(node, value) { node.textContent = value === null || value === undefined ? "" : String(value); }

  function cell(row, value, numeric) {
    var td = document.createElement("td");
    if (numeric) { td.className = "num"; }
    text(td, value);
    row.appendChild(td);
  }

  function show(data) {
    text(document.getElementById("now-instant"), data.instant);
    Object.keys(data.metrics || {}).forEach(function (id) {
      var card = document.querySelector('[data-metric="' + id + '"]');
      if (!card) { return; }
      var m = data.metrics[id];
      var value = card.querySelector(".card-value");
      value.setAttribute("data-value", m.value);
      text(value, m.value);
      var limit = card.querySelector(".card-limit");
      limit.setAttribute("data-limit", m.limit === null ? "" : m.limit);
      text(limit, m.limit === null ? "" : config.of_limit.replace("{limit}", m.limit));
    });
    var body = document.querySelector("#now-active tbody");
    while (body.firstChild) { body.removeChild(body.firstChild); }
    (data.active || []).forEach(function (p) {
      var row = document.createElement("tr");
      row.setAttribute("data-id", p.kind + ":" + p.id);
      cell(row, p.title || p.id);
      cell(row, p.template);
      cell(row, p.organizer_name || p.organizer_id || "—");
      cell(row, p.connections, true);
      cell(row, p.speakers, true);
      cell(row, p.viewers, true);
      body.appendChild(row);
    });
    document.getElementById("now-empty").hidden = (data.active || []).length > 0;
  }

  function poll() {
    if (timer !== null) { return; }
    mode.setAttribute("data-mode", "polling");
    text(mode, config.polling);
    var tick = function () {
      fetch(config.source, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { show(data); } })
        .catch(function () { /* the next tick tries again */ });
    };
    tick();
    timer = window.setInterval(tick, config.poll_ms);
  }

  if (!window.EventSource) { poll(); return; }
  var failures = 0;
  var source = new EventSource(config.source.replace("/api/v1/now", "/api/v1/now/stream"));
  source.addEventListener("now", function (e) {
    failures = 0;
    mode.setAttribute("data-mode", "live");
    text(mode, config.live);
    show(JSON.parse(e.data));
  });
  source.onerror = function () {
    failures += 1;
    if (source.readyState === EventSource.CLOSED || failures >= 3) { source.close(); poll(); }
  };
})();
