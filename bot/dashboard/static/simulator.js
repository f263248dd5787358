// The simulator: three chat panes, each a simulated contact. Sends go to the real
// dispatcher; what the bot sends arrives through the outbox, fetched by polling.
(function () {
  "use strict";
  var root = document.getElementById("simulator");
  if (!root) { return; }
  var messagesUrl = root.getAttribute("data-messages");
  var sendUrl = root.getAttribute("data-send");
  var csrf = root.getAttribute("data-csrf");
  var locationLabel = root.getAttribute("data-location-label");
  var last = 0;
  var busy = false;

  function pane(persona) { return document.getElementById("pane-" + persona); }

  function post(persona, fields) {
    var body = new URLSearchParams();
    body.append("csrf", csrf);
    body.append("persona", persona);
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(sendUrl, { method: "POST", credentials: "same-origin", body: body,
                            headers: { "Accept": "application/json" } })
      .then(function () { poll(); });
  }

  function button(persona, label, fields) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (fields.choice) { b.setAttribute("data-choice", fields.choice); }
    b.addEventListener("click", function () {
      b.parentNode.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
      post(persona, fields);
    });
    return b;
  }

  function show(persona, m) {
    var log = pane(persona).querySelector(".sim-log");
    var li = document.createElement("li");
    li.className = "sim-msg " + (m.from === "me" ? "me" : "bot");
    li.setAttribute("data-seq", m.seq);
    var text = document.createElement("div");
    text.className = "sim-text";
    text.textContent = m.text;
    li.appendChild(text);
    if (m.choices.length || m.location) {
      var row = document.createElement("div");
      row.className = "sim-choices";
      m.choices.forEach(function (c) {
        row.appendChild(button(persona, c.label, { choice: c.id, label: c.label }));
      });
      if (m.location) {
        row.appendChild(button(persona, locationLabel, { text: "/lokasi", label: locationLabel }));
      }
      li.appendChild(row);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function poll() {
    if (busy) { return; }
    busy = true;
    fetch(messagesUrl + "?after=" + last, { credentials: "same-origin",
                                           headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        busy = false;
        if (!body) { return; }
        var all = [];
        Object.keys(body.panes).forEach(function (p) {
          body.panes[p].forEach(function (m) { all.push([p, m]); });
        });
        all.sort(function (a, b) { return a[1].seq - b[1].seq; });
        all.forEach(function (pm) { if (pm[1].seq > last) { show(pm[0], pm[1]); } });
        last = Math.max(last, body.last);
      })
      .catch(function () { busy = false; });
  }

  root.querySelectorAll(".sim-pane").forEach(function (section) {
    var persona = section.getAttribute("data-persona");
    var form = section.querySelector(".sim-compose");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = form.querySelector("input[name=text]");
      var text = input.value.trim();
      if (!text) { return; }
      input.value = "";
      post(persona, { text: text });
    });
  });
  poll();
  window.setInterval(poll, 800);
})();
