/* Jig web UI: forms, pickers, uploads, transitions, kanban, charts.
 * Data never becomes HTML: every text from records or definitions is set with textContent. */
(function () {
  "use strict";
  var TX = {};
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function jsonOf(id) { var s = document.getElementById(id); return s ? JSON.parse(s.textContent) : null; }
  function csrf() { var m = $('meta[name="csrf-token"]'); return m ? m.getAttribute("content") : ""; }
  function api(method, url, body) {
    var opts = { method: method, headers: { "X-CSRF-Token": csrf(), "Accept": "application/json" }, credentials: "same-origin" };
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }
  function toast(msg, kind) {
    var t = $("#toast");
    if (!t) return;
    t.textContent = msg;
    t.className = "toast " + (kind || "info");
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 6000);
  }
  function errMessage(res) {
    return (res.data && res.data.error && res.data.error.message) || ("HTTP " + res.status);
  }
  function debounce(fn, ms) { var h; return function () { var a = arguments; clearTimeout(h); h = setTimeout(function () { fn.apply(null, a); }, ms); }; }

  /* ---------------------------------------------------------------- link picker */
  function initPicker(p) {
    if (p.dataset.ready) return;
    p.dataset.ready = "1";
    var hidden = $("[data-picker-value]", p), text = $("[data-picker-text]", p), list = $(".options", p);
    var active = -1, items = [];
    function close() { list.hidden = true; text.setAttribute("aria-expanded", "false"); active = -1; }
    function choose(item) {
      hidden.value = item ? item.id : "";
      text.value = item ? item.title : "";
      close();
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }
    var search = debounce(function () {
      var q = text.value.trim();
      var url = "/api/" + encodeURIComponent(p.dataset.app) + "/" + encodeURIComponent(p.dataset.to) + "?limit=10" + (q ? "&q=" + encodeURIComponent(q) : "");
      api("GET", url).then(function (res) {
        while (list.firstChild) list.removeChild(list.firstChild);
        items = [];
        if (!res.ok) { close(); return; }
        var tf = p.dataset.titleField || "name";
        (res.data.items || []).forEach(function (rec) {
          var title = rec[tf] !== undefined && rec[tf] !== null && rec[tf] !== "" ? rec[tf] : "#" + rec.id;
          items.push({ id: rec.id, title: String(title) });
        });
        if (!items.length) { var none = el("li", { "class": "none" }, TX.no_match); list.appendChild(none); }
        items.forEach(function (it, i) {
          var li = el("li", { role: "option", id: (text.id || "p") + "-opt-" + i }, it.title);
          li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(it); });
          list.appendChild(li);
        });
        list.hidden = false;
        text.setAttribute("aria-expanded", "true");
      });
    }, 200);
    text.addEventListener("input", function () { if (!text.value) { hidden.value = ""; } search(); });
    text.addEventListener("focus", function () { if (!text.disabled) search(); });
    text.addEventListener("blur", function () { setTimeout(close, 150); });
    text.addEventListener("keydown", function (ev) {
      var opts = $$("[role=option]", list);
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        if (!opts.length) return;
        active = (active + (ev.key === "ArrowDown" ? 1 : -1) + opts.length) % opts.length;
        opts.forEach(function (o, i) { o.classList.toggle("active", i === active); o.setAttribute("aria-selected", i === active ? "true" : "false"); });
        text.setAttribute("aria-activedescendant", opts[active].id);
      } else if (ev.key === "Enter" && !list.hidden && active >= 0 && items[active]) {
        ev.preventDefault(); choose(items[active]);
      } else if (ev.key === "Escape") { close(); }
    });
  }

  /* ---------------------------------------------------------------- uploads */
  function initFiles(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "1";
    var raw = $("[data-files-value]", box);
    var value = raw ? JSON.parse(raw.textContent) : null;
    var multi = box.dataset.multi === "1", image = box.dataset.image === "1";
    var files = multi ? (value || []) : (value ? [value] : []);
    var listEl = $(".file-list", box), input = $("input[type=file]", box);
    function render() {
      while (listEl.firstChild) listEl.removeChild(listEl.firstChild);
      files.forEach(function (f, i) {
        var li = el("li");
        var key = typeof f === "string" ? f : f.key;
        var name = typeof f === "string" ? f : (f.filename || f.key);
        if (image) {
          var img = el("img", { src: "/api/files/" + encodeURIComponent(key), alt: name, "class": "thumb" });
          li.appendChild(img);
        } else {
          li.appendChild(el("a", { href: "/api/files/" + encodeURIComponent(key) }, name));
        }
        if (input) {
          var rm = el("button", { type: "button", "class": "small" }, TX.remove);
          rm.addEventListener("click", function () { files.splice(i, 1); render(); });
          li.appendChild(rm);
        }
        listEl.appendChild(li);
      });
      box.jigValue = multi ? files.slice() : (files[0] || null);
    }
    if (input) input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var fd = new FormData();
      fd.append("file", file);
      api("POST", "/api/files" + (image ? "?image=1" : ""), fd).then(function (res) {
        input.value = "";
        if (!res.ok) { toast(errMessage(res), "error"); return; }
        if (multi) files.push(res.data); else files = [res.data];
        render();
      });
    });
    render();
  }

  /* ---------------------------------------------------------------- forms */
  function readInput(cell, type) {  /* type: the widget its field type names (data-widget) */
    var inp = $("[data-input]", cell);
    if (!inp) return undefined;
    if (type === "boolean") return inp.checked;
    if (type === "multiselect") return $$("input[type=checkbox]", inp).filter(function (c) { return c.checked; }).map(function (c) { return c.value; });
    if (type === "link") return inp.value ? parseInt(inp.value, 10) : null;
    if (type === "files") return inp.jigValue === undefined ? null : inp.jigValue;
    if (type === "computed") return undefined;
    return inp.value === "" ? null : inp.value;
  }
  function collect(form) {
    var out = {};
    $$("[data-field]", form).forEach(function (w) {
      var name = w.dataset.field, type = w.dataset.type;
      if (type === "computed") return;
      if (type === "table") {
        out[name] = $$("tbody > tr[data-row]", w).map(function (tr) {
          var row = {};
          if (tr.dataset.rowId) row.id = parseInt(tr.dataset.rowId, 10);
          $$("td[data-cfield]", tr).forEach(function (td) {
            var v = readInput(td, td.dataset.widget);
            if (v !== undefined) row[td.dataset.cfield] = v;
          });
          return row;
        });
        return;
      }
      var inp = $("[data-input]", w);
      if (!inp || inp.disabled) return;
      out[name] = readInput(w, w.dataset.widget);
    });
    return out;
  }
  function clearErrors(root) {
    $$(".field-error", root).forEach(function (p) { p.textContent = ""; });
    $$("[aria-invalid]", root).forEach(function (e) { e.removeAttribute("aria-invalid"); });
    var fe = $("#form-error"); if (fe) { fe.hidden = true; fe.textContent = ""; }
  }
  function showErrors(form, res) {
    var fe = $("#form-error");
    if (fe) { fe.textContent = errMessage(res); fe.hidden = false; }
    var fields = (res.data && res.data.error && res.data.error.fields) || {};
    var first = null;
    Object.keys(fields).forEach(function (k) {
      var p = $$("[data-error-for]", form).filter(function (x) { return x.getAttribute("data-error-for") === k; })[0];
      if (!p) p = $$("[data-error-for]", form).filter(function (x) { return x.getAttribute("data-error-for") === k.split("[")[0]; })[0];
      if (p) {
        p.textContent = fields[k];
        var holder = p.closest("[data-field]") || p.closest("td");
        var inp = holder && (holder.querySelector("[data-picker-text]") || holder.querySelector("input:not([type=hidden]),select,textarea"));
        if (inp) { inp.setAttribute("aria-invalid", "true"); inp.setAttribute("aria-describedby", p.id || ""); if (!first) first = inp; }
        var panel = p.closest(".panel");
        if (panel && panel.hidden && first === inp) { showTab(panel.id); }
      }
    });
    if (first) first.focus();
  }
  function showTab(panelId) {
    $$(".tabs [role=tab]").forEach(function (b) { b.setAttribute("aria-selected", b.getAttribute("aria-controls") === panelId ? "true" : "false"); });
    $$(".panel[role=tabpanel]").forEach(function (p) { p.hidden = p.id !== panelId; });
  }
  function renumberRows(w) {
    var name = w.dataset.field;
    $$("tbody > tr[data-row]", w).forEach(function (tr, i) {
      $$("td[data-cfield]", tr).forEach(function (td) {
        var p = $(".field-error", td);
        if (p) p.setAttribute("data-error-for", name + "[" + i + "]." + td.dataset.cfield);
      });
    });
  }
  var rowSeq = 0;
  function initChildTable(w) {
    var tpl = $("template[data-row-template]", w), add = $("[data-add-row]", w), body = $("tbody", w);
    if (add && tpl) add.addEventListener("click", function () {
      var frag = tpl.content.cloneNode(true);
      rowSeq += 1;
      $$("[id]", frag).forEach(function (e) { e.id = e.id.replace("-NEW-", "-n" + rowSeq + "-"); });
      $$("label[for]", frag).forEach(function (e) { e.setAttribute("for", e.getAttribute("for").replace("-NEW-", "-n" + rowSeq + "-")); });
      var tr = frag.querySelector("tr");
      body.appendChild(frag);
      $$("[data-picker]", tr).forEach(initPicker);
      $$("[data-files]", tr).forEach(initFiles);
      renumberRows(w);
      var firstInput = tr.querySelector("input:not([type=hidden]),select,textarea");
      if (firstInput) firstInput.focus();
    });
    w.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-remove-row]");
      if (!b) return;
      b.closest("tr").remove();
      renumberRows(w);
    });
    renumberRows(w);
  }
  function applyRules(form, rules) {
    Object.keys(rules.fields || {}).forEach(function (name) {
      var w = $$("[data-field]", form).filter(function (x) { return x.dataset.field === name; })[0];
      if (!w) return;
      var r = rules.fields[name];
      w.hidden = !r.visible;
      var req = $(".req", w); if (req) req.hidden = !r.required;
      var inp = $("[data-input]", w);
      if (inp && w.dataset.type !== "computed" && form.dataset.editable === "1") {
        var lock = !!r.readonly;
        [inp].concat($$("input,select,textarea", w)).forEach(function (e) { e.disabled = lock; });
        if (inp.tagName !== "DIV" && inp.tagName !== "SPAN") inp.setAttribute("aria-required", r.required ? "true" : "false");
      }
      if (w.dataset.type === "computed" && "value" in r) { var o = $("output", w); if (o) o.textContent = r.value === null ? "" : r.value === true ? TX.yes : r.value === false ? TX.no : String(r.value); }
    });
    (rules.sections || []).forEach(function (vis, i) {
      var s = $$("[data-section]", form).filter(function (x) { return x.dataset.section === String(i); })[0];
      if (s) s.hidden = !vis;
    });
  }
  function initForm(form) {
    form.dataset.editable = $("#save") ? "1" : "";
    $$("[data-field][data-type=table]", form).forEach(initChildTable);
    $$(".tabs [role=tab]").forEach(function (b, i, all) {
      b.addEventListener("click", function () { showTab(b.getAttribute("aria-controls")); });
      b.addEventListener("keydown", function (ev) {
        if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
        var n = all[(i + (ev.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
        n.focus(); n.click();
      });
    });
    var id = form.dataset.id ? parseInt(form.dataset.id, 10) : null;
    if (form.dataset.dynamic === "1") {
      var refresh = debounce(function () {
        api("POST", form.dataset.rulesUrl, { id: id, values: collect(form) }).then(function (res) { if (res.ok) applyRules(form, res.data); });
      }, 250);
      form.addEventListener("change", refresh);
      form.addEventListener("input", refresh);
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var body = collect(form);
      var base = "/api/" + form.dataset.app + "/" + form.dataset.entity;
      var req = id ? api("PATCH", base + "/" + id, Object.assign(body, { version: parseInt(form.dataset.version, 10) })) : api("POST", base, body);
      var btn = $("#save"); if (btn) btn.disabled = true;
      req.then(function (res) {
        if (btn) btn.disabled = false;
        if (res.ok) {
          sessionStorage.setItem("jig-toast", TX.saved);
          location.href = "/a/" + form.dataset.app + "/" + form.dataset.entity + "/" + res.data.id;
        } else { showErrors(form, res); }
      });
    });
    var del = $("#delete-record");
    if (del) del.addEventListener("click", function () {
      if (!confirm(TX.confirm_delete)) return;
      api("DELETE", "/api/" + form.dataset.app + "/" + form.dataset.entity + "/" + id + "?version=" + form.dataset.version).then(function (res) {
        if (res.ok) location.href = "/a/" + form.dataset.app + "/" + form.dataset.entity;
        else toast(errMessage(res), "error");
      });
    });
  }

  /* ---------------------------------------------------------------- transitions */
  function initTransitions() {
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-transition]");
      if (!b) return;
      var form = $("#record-form");
      var body = {};
      if (form && b.dataset.require) {
        var values = collect(form);
        b.dataset.require.split(",").forEach(function (k) { if (k && k in values) body[k] = values[k]; });
      }
      var version = form ? form.dataset.version : b.dataset.version;
      if (version) body.version = parseInt(version, 10);
      b.disabled = true;
      api("POST", b.dataset.url, body).then(function (res) {
        b.disabled = false;
        if (res.ok) { sessionStorage.setItem("jig-toast", b.textContent.trim() + " ✓"); location.reload(); }
        else { toast(errMessage(res), "error"); if (form) { clearErrors(form); showErrors(form, res); } }
      });
    });
  }

  /* ---------------------------------------------------------------- kanban */
  function initKanban(board) {
    var cfg = jsonOf("jig-kanban");
    var dragged = null;
    function moveCard(card, target) {
      var from = card.dataset.state;
      if (from === target) return;
      var tr = cfg.moves.filter(function (m) {
        var ok = m.from === null ? cfg.finals.indexOf(from) < 0 : m.from.indexOf(from) >= 0;
        return ok && m.to === target;
      })[0];
      if (!tr) { toast(TX.no_transition.replace("{a}", cfg.states[from]).replace("{b}", cfg.states[target]), "error"); return; }
      api("POST", "/api/" + cfg.app + "/" + cfg.entity + "/" + card.dataset.id + "/transitions/" + tr.name, { version: parseInt(card.dataset.version, 10) })
        .then(function (res) {
          if (!res.ok) { toast(errMessage(res), "error"); return; }
          card.dataset.state = target;
          card.dataset.version = res.data.version;
          var sel = $("[data-move]", card);
          if (sel) {  // what can follow from the new state (the page offers exactly this on the next load)
            while (sel.options.length > 1) sel.remove(1);
            cfg.moves.forEach(function (m) {
              var ok = m.from === null ? cfg.finals.indexOf(target) < 0 : m.from.indexOf(target) >= 0;
              if (ok && m.to !== target && !$('option[value="' + m.to + '"]', sel)) sel.add(new Option(cfg.states[m.to], m.to));
            });
            sel.hidden = sel.options.length < 2;
          }
          $(".cards-list", board.querySelector('.lane[data-state="' + target + '"]')).appendChild(card);
          toast(TX.moved.replace("{b}", cfg.states[target]), "ok");
        });
    }
    $$(".kcard", board).forEach(function (c) {
      c.addEventListener("dragstart", function (ev) { dragged = c; ev.dataTransfer.setData("text/plain", c.dataset.id); ev.dataTransfer.effectAllowed = "move"; });
      var sel = $("[data-move]", c);
      if (sel) sel.addEventListener("change", function () { if (sel.value) moveCard(c, sel.value); sel.value = ""; });
    });
    $$(".lane", board).forEach(function (lane) {
      lane.addEventListener("dragover", function (ev) { ev.preventDefault(); lane.classList.add("over"); });
      lane.addEventListener("dragleave", function () { lane.classList.remove("over"); });
      lane.addEventListener("drop", function (ev) {
        ev.preventDefault(); lane.classList.remove("over");
        var id = ev.dataTransfer.getData("text/plain");
        var card = dragged || $('.kcard[data-id="' + id + '"]', board);
        if (card) moveCard(card, lane.dataset.state);
        dragged = null;
      });
    });
  }

  /* ---------------------------------------------------------------- dashboards */
  var PALETTE = { grey: "#8c8c8c", blue: "#1677ff", green: "#389e0d", yellow: "#d4b106", orange: "#fa8c16", red: "#cf1322", purple: "#722ed1", cyan: "#13c2c2" };
  function initCharts() {
    var data = jsonOf("jig-dashboard");
    if (!data || !window.echarts) return;
    var dark = document.documentElement.classList.contains("bigscreen");
    data.widgets.forEach(function (w, i) {
      if (["bar", "line", "pie"].indexOf(w.type) < 0) return;
      var node = $('[data-chart="' + i + '"]');
      if (!node) return;
      var chart = window.echarts.init(node, dark ? "dark" : null, { renderer: "canvas" });
      var labels = w.series.map(function (s) { return s.label; });
      var values = w.series.map(function (s) { return { value: s.value, name: s.label, itemStyle: s.color ? { color: PALETTE[s.color] } : undefined }; });
      var opt = { backgroundColor: "transparent", tooltip: { trigger: w.type === "pie" ? "item" : "axis" }, animation: false,
        textStyle: { fontSize: dark ? 18 : 12 } };
      var narrow = node.clientWidth < 560;  // a phone: a smaller ring leaves room for the labels beside it
      if (w.type === "pie") opt.series = [{ type: "pie", radius: narrow ? ["25%", "50%"] : ["35%", "70%"], data: values,
        label: { formatter: narrow ? "{b}\n{c}" : "{b}: {c}", overflow: "break" } }];
      else {
        opt.grid = { left: 48, right: 16, top: 16, bottom: 48, containLabel: true };
        opt.xAxis = { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 6 ? 30 : 0 } };
        opt.yAxis = { type: "value" };
        if (w.integer) opt.yAxis.minInterval = 1;  // counted things: 0, 1, 2 ... never 0.5
        opt.series = [{ type: w.type, data: values, label: { show: true, position: "top" }, itemStyle: { color: "#1677ff" } }];
      }
      chart.setOption(opt);
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  /* ---------------------------------------------------------------- misc */
  function initBell() {
    var c = $("#bell-count");
    if (!c) return;
    setInterval(function () {
      fetch("/ui/notifications.json", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (d) {
        if (!d) return;
        c.textContent = String(d.unread);
        c.hidden = !d.unread;
      }).catch(function () {});
    }, 60000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    TX = jsonOf("jig-texts") || {};
    var saved = sessionStorage.getItem("jig-toast");
    if (saved) { sessionStorage.removeItem("jig-toast"); toast(saved, "ok"); }
    $$("[data-picker]").filter(function (p) { return !p.closest("template"); }).forEach(initPicker);
    $$("[data-files]").forEach(initFiles);
    var form = $("#record-form"); if (form) initForm(form);
    initTransitions();
    var kb = $("#kanban"); if (kb) initKanban(kb);
    initCharts();
    initBell();
    var fs = $("#fullscreen");
    if (fs) fs.addEventListener("click", function () { if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen(); });
  });
})();
