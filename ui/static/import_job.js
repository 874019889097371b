// Progress of a background import: polls /imports/<id>.json every second until the job ends.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("import-job");
    if (!box) return;
    var texts = JSON.parse(box.getAttribute("data-texts") || "{}");
    var bar = document.getElementById("import-progress");
    var pct = document.getElementById("import-percent");
    var phase = document.getElementById("import-phase");
    var done = document.getElementById("import-done");
    var err = document.getElementById("import-error");
    var table = document.getElementById("import-errors");
    function show(job) {
      bar.value = job.percent;
      bar.textContent = job.percent + "%";
      pct.textContent = job.percent + "%";
      box.setAttribute("data-status", job.status);
      if (job.status === "queued") phase.textContent = texts.queued;
      else if (job.status === "running") phase.textContent = job.phase === "importing" ? texts.importing : texts.checking;
      else phase.textContent = "";
      if (job.status === "done") {
        done.textContent = texts.done.replace("{n}", String(job.created));
        done.hidden = false;
      } else if (job.status === "failed") {
        var rows = {};
        job.errors.forEach(function (e) { rows[e.row] = true; });
        err.textContent = texts.failed.replace("{n}", String(Object.keys(rows).length));
        err.hidden = false;
        var body = table.tBodies[0];
        while (body.firstChild) body.removeChild(body.firstChild);
        job.errors.forEach(function (e) {
          var tr = document.createElement("tr");
          [e.row, e.field, e.message].forEach(function (v) {
            var td = document.createElement("td");
            td.textContent = String(v);
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
        table.hidden = job.errors.length === 0;
      }
      return job.status === "done" || job.status === "failed";
    }
    function poll() {
      fetch(box.getAttribute("data-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) { if (!job || !show(job)) setTimeout(poll, 1000); })
        .catch(function () { setTimeout(poll, 1000); });
    }
    var st = box.getAttribute("data-status");
    if (st !== "done" && st !== "failed") setTimeout(poll, 1000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
