// The composer: show only the fields the chosen audience needs, and grey out "send"
// once pressed (the server sends a form once in any case). Then live progress of bulk
// sends: poll a small JSON document while any send is running.
(function () {
  "use strict";
  var audience = document.getElementById("broadcast-audience");
  if (audience) {
    var parts = document.querySelectorAll(".audience-part");
    var show = function () {
      parts.forEach(function (part) {
        var wanted = part.getAttribute("data-for").split(" ");
        part.hidden = wanted.indexOf(audience.value) < 0;
      });
    };
    audience.addEventListener("change", show);
    show();
  }
  var sendForm = document.getElementById("broadcast-send-form");
  if (sendForm) {
    sendForm.addEventListener("submit", function () {
      var button = document.getElementById("broadcast-send");
      window.setTimeout(function () { button.disabled = true; }, 0);
    });
  }

  var table = document.getElementById("broadcast-list");
  if (!table) { return; }
  var url = table.getAttribute("data-progress");
  var running = { scheduled: 1, fanout: 1, sending: 1 };
  function update() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var busy = false;
        body.broadcasts.forEach(function (b) {
          var row = table.querySelector('tr[data-id="' + b.id + '"]');
          if (!row) { return; }
          row.querySelector(".b-status").textContent = b.status;
          row.querySelector(".b-count").textContent = b.done + " / " + b.enqueued;
          var bar = row.querySelector("progress");
          bar.max = b.enqueued || 1;
          bar.value = b.done;
          if (running[b.status]) { busy = true; }
        });
        if (busy) { window.setTimeout(update, 3000); }
      })
      .catch(function () { window.setTimeout(update, 10000); });
  }
  update();
})();
