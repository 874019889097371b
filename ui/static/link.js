/* Shared-link form: keeps what was typed (localStorage), downscales photos in the browser,
   uploads them, submits as JSON and retries when the network drops. No framework. */
(function () {
  "use strict";
  var main = document.getElementById("main"), form = document.getElementById("f");
  if (!form) return;
  var T = JSON.parse(document.getElementById("texts").textContent);
  var KEY = main.dataset.key, WHO = "jig-link-who", MAX_EDGE = 1600;
  var msg = document.getElementById("msg"), photos = {}, busy = false, tries = 0;
  function store() { try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch (e) { return {}; } }
  function keep(obj) { try { localStorage.setItem(KEY, JSON.stringify(obj)); } catch (e) { /* private mode */ } }
  function say(text, kind) { msg.hidden = !text; msg.textContent = text || ""; msg.className = "msg " + (kind || ""); }
  function fields() { return form.querySelectorAll("[data-field]"); }
  function valueOf(box) {
    var type = box.dataset.widget, name = box.dataset.field;  /* the widget its field type names */
    if (type === "select") { var c = box.querySelector("input:checked"); return c ? c.value : null; }
    if (type === "photo") return null;
    var el = box.querySelector("[name=" + name + "]"), v = el.value.trim();
    if (v === "") return null;
    return type === "number" ? Number(v) : v;
  }
  function save() {
    var s = store(); s.values = {};
    fields().forEach(function (b) { var v = valueOf(b); if (v !== null) s.values[b.dataset.field] = v; });
    keep(s);
    var who = form.querySelector("[data-who]");
    if (who && who.value) try { localStorage.setItem(WHO + who.name, who.value); } catch (e) { /* ignore */ }
  }
  function restore() {
    var s = store(), vals = s.values || {};
    fields().forEach(function (b) {
      var n = b.dataset.field, v = vals[n];
      if (v === undefined || v === null) return;
      if (b.dataset.widget === "select") { var r = b.querySelector("input[value='" + String(v).replace(/'/g, "") + "']"); if (r) r.checked = true; }
      else { var el = b.querySelector("[name=" + n + "]"); if (el && el.type !== "file") el.value = v; }
    });
    var who = form.querySelector("[data-who]");
    if (who && !who.value) { try { var w = localStorage.getItem(WHO + who.name); if (w) who.value = w; } catch (e) { /* ignore */ } }
  }
  function downscale(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file), img = new Image();
      img.onload = function () {
        var k = Math.min(1, MAX_EDGE / Math.max(img.naturalWidth, img.naturalHeight));
        var c = document.createElement("canvas");
        c.width = Math.round(img.naturalWidth * k); c.height = Math.round(img.naturalHeight * k);
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        URL.revokeObjectURL(url);
        c.toBlob(function (b) { resolve(b || file); }, "image/jpeg", 0.82);
      };
      img.onerror = function () { URL.revokeObjectURL(url); resolve(file); };
      img.src = url;
    });
  }
  form.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.type === "file") {
      var name = el.name, box = form.querySelector("[data-thumbs='" + name + "']");
      photos[name] = photos[name] || [];
      Array.prototype.forEach.call(el.files, function (file) {
        downscale(file).then(function (blob) {
          photos[name].push({ blob: blob, key: null });
          var im = new Image(); im.alt = ""; im.src = URL.createObjectURL(blob); box.appendChild(im);
        });
      });
      el.value = "";
    }
    save();
  });
  form.addEventListener("input", save);
  function post(url, body, isForm) {
    var h = { "X-Link-Token": main.dataset.csrf };
    if (!isForm) h["Content-Type"] = "application/json";
    return fetch(url, { method: "POST", headers: h, body: isForm ? body : JSON.stringify(body), credentials: "omit" })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; }); });
  }
  function uploadAll() {
    var jobs = [];
    Object.keys(photos).forEach(function (name) {
      photos[name].forEach(function (p) {
        if (p.key) return;
        var fd = new FormData(); fd.append("file", p.blob, "photo.jpg");
        jobs.push(post(main.dataset.files, fd, true).then(function (r) {
          if (r.status !== 201) throw { answer: r };
          p.key = r.body.key;
        }));
      });
    });
    return Promise.all(jobs);
  }
  function showErrors(err) {
    form.querySelectorAll("[data-err]").forEach(function (p) { p.textContent = ""; });
    var fs = (err && err.fields) || {};
    Object.keys(fs).forEach(function (k) { var p = form.querySelector("[data-err='" + k + "']"); if (p) p.textContent = fs[k]; });
    say((err && err.message) || "?", "err");
  }
  function submit(action) {
    if (busy) return;
    var who = form.querySelector("[data-who]");
    if (who && !who.value) { say(T.who, "err"); who.focus(); return; }
    busy = true; save();
    form.querySelectorAll(".go").forEach(function (b) { b.disabled = true; });
    say(Object.keys(photos).length ? T.uploading : T.sending);
    var body = { action: action, values: (store().values || {}) };
    if (main.dataset.version) body.version = Number(main.dataset.version);
    if (who) body[who.name] = who.value;
    var pin = document.getElementById("pin"); if (pin) body.pin = pin.value;
    var ch = document.getElementById("challenge");
    if (ch) body.challenge = { answer: ch.value, exp: ch.dataset.exp, sig: ch.dataset.sig };
    if (main.dataset.creates) { var s = store(); s.submit = s.submit || String(Date.now()) + Math.random().toString(16).slice(2); keep(s); body.submit_id = s.submit; }
    uploadAll().then(function () {
      Object.keys(photos).forEach(function (n) { body.values[n] = photos[n].map(function (p) { return p.key; }); });
      return post(main.dataset.post, body);
    }).then(function (r) {
      busy = false; tries = 0;
      form.querySelectorAll(".go").forEach(function (b) { b.disabled = false; });
      if (r.status === 200 || r.status === 201) {
        keep({}); photos = {};
        say(r.body.message + (r.body.name ? " " + r.body.name : ""), "ok");
        setTimeout(function () { location.reload(); }, main.dataset.creates ? 2500 : 700);
      } else if (r.status === 409 && body.version) {
        say(T.again, "err"); setTimeout(function () { location.reload(); }, 1500);
      } else { showErrors(r.body.error); }
    }).catch(function (e) {
      busy = false;
      form.querySelectorAll(".go").forEach(function (b) { b.disabled = false; });
      if (e && e.answer) { showErrors(e.answer.body.error); return; }
      tries += 1; say(T.offline, "err");   /* the network dropped: keep everything, try again */
      setTimeout(function () { submit(action); }, Math.min(30000, 2000 * Math.pow(2, tries - 1)));
    });
  }
  form.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-action]") : null;
    if (b) { ev.preventDefault(); submit(b.dataset.action); }
  });
  restore();
})();
