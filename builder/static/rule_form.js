/* The editor of one rule: label, trigger, condition (field picker rows <-> expression, checked as you type),
 * once/repeat, actions (rule_actions.js), enabled; test now (as if at a chosen time). Edits change
 * ctx.S.current.spec (the rule's YAML as data); saving turns it into draft edits (rules.js). */
import { call, errorText } from "./api.js";
import { pick } from "./model.js";
import { renderActions } from "./rule_actions.js";

const EVENTS = ["created", "updated", "transitioned", "deleted"];
const OPS = [["==", "op_eq"], ["!=", "op_ne"], ["<", "op_lt"], ["<=", "op_le"], [">", "op_gt"], [">=", "op_ge"],
  ["in", "op_in"], ["not_in", "op_not_in"], ["empty", "op_empty"], ["not_empty", "op_not_empty"],
  ["contains", "op_contains"], ["overdue_days", "op_overdue_days"], ["overdue_hours", "op_overdue_hours"]];
const ONCE = ["per_record", "per_day", "per_state", "per_event", "always"];

export function triggerText(r, T) {
  const on = r.on || {};
  if (on.event) return `${T[`trig_${on.event}`] || on.event} · ${on.entity || ""}`;
  if (on.schedule) return `${on.schedule}${on.between ? ` (${on.between})` : ""} · ${r.for_each || ""}`;
  return "";
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

export function fieldsOf(data, ent) {
  const e = ((data.entities || {})[ent]) || {};
  const out = Object.entries(e.fields || {}).map(([k, f]) => ({ key: k, type: (f && f.type) || "text", to: f && f.to,
    label: pick(f && f.label, "zh") || k }));
  if (e.workflow) out.unshift({ key: "state", type: "text", label: "state" });
  return out;
}

export function renderRuleForm(box, ctx) {
  const { S, T, LANG, URL_APP, el, status } = ctx;
  const cur = S.current;
  const spec = cur.spec;
  box.replaceChildren();
  const section = (title) => { const s = el("fieldset", { class: "r-sec" }); s.append(el("legend", {}, title)); box.append(s); return s; };
  const labelled = (parent, text, input) => { const l = el("label", {}, `${text} `); l.append(input); parent.append(l); return input; };
  const select = (options, value) => {
    const s = el("select", {});
    options.forEach(([v, text]) => { const o = el("option", { value: v }, text); if (String(v) === String(value ?? "")) o.selected = true; s.append(o); });
    return s;
  };
  const entities = Object.keys(S.data.entities || {});
  const entOf = () => (spec.on && spec.on.entity) || spec.for_each;

  box.append(el("h2", { id: "r-edit-title" }, `${pick(spec.label, LANG) || cur.key} · ${cur.key}`));
  const head = section(T.col_rule);
  const lz = labelled(head, T.label_zh, el("input", { id: "r-label-zh", value: pick(spec.label, "zh"), maxlength: "100" }));
  const le = labelled(head, T.label_en, el("input", { id: "r-label-en", value: pick(spec.label, "en"), maxlength: "100" }));
  const setLabel = () => { spec.label = { zh: lz.value.trim() || cur.key, en: le.value.trim() || lz.value.trim() || cur.key }; };
  lz.addEventListener("input", setLabel);
  le.addEventListener("input", setLabel);
  const en = el("input", { type: "checkbox", id: "r-enabled" });
  en.checked = spec.enabled !== false;
  en.addEventListener("change", () => { if (en.checked) delete spec.enabled; else spec.enabled = false; });
  const enl = el("label", { class: "r-check" });
  enl.append(en, document.createTextNode(` ${T.enabled_rule}`));
  head.append(enl);

  /* ---- trigger */
  const trig = section(T.trigger);
  const on = spec.on || (spec.on = {});
  if (cur.overdue === undefined) cur.overdue = !on.event && /^(days|hours)_since\(/.test(spec.when || "");
  let kind = on.event || (cur.overdue ? "overdue" : "schedule");
  const kindSel = labelled(trig, T.trigger, select([...EVENTS.map((e) => [e, T[`trig_${e}`]]), ["schedule", T.trig_schedule],
    ["overdue", T.trig_overdue]], kind));
  kindSel.id = "r-trigger";
  const trigBody = el("div", { class: "r-trig-body" });
  trig.append(trigBody);
  kindSel.addEventListener("change", () => {
    kind = kindSel.value;
    cur.overdue = kind === "overdue";
    const ent = entOf() || entities[0];
    if (EVENTS.includes(kind)) {
      spec.on = { event: kind, entity: ent };
      delete spec.for_each;
      if (spec.once && spec.once !== "per_event" && typeof spec.once === "string" && spec.once === "always") delete spec.once;
    } else {
      spec.on = { schedule: (spec.on && spec.on.schedule) || "every 1h" };
      spec.for_each = ent;
    }
    renderRuleForm(box, ctx);
  });

  function renderTrigger() {
    trigBody.replaceChildren();
    const o = spec.on;
    const entSel = labelled(trigBody, T.entity, select(entities.map((e) => [e, e]), entOf()));
    entSel.id = "r-entity";
    entSel.addEventListener("change", () => {
      if (o.event) o.entity = entSel.value; else spec.for_each = entSel.value;
      cond.rows = []; delete spec.when; renderRuleForm(box, ctx);
    });
    const fields = fieldsOf(S.data, entOf());
    if (kind === "updated") {
      const wrap = el("div", { class: "r-fields" });
      wrap.append(el("span", {}, T.changed_fields));
      fields.forEach((f) => {
        const cb = el("input", { type: "checkbox", value: f.key });
        cb.checked = (o.fields || []).includes(f.key);
        cb.addEventListener("change", () => {
          const set = new Set(o.fields || []);
          if (cb.checked) set.add(f.key); else set.delete(f.key);
          if (set.size) o.fields = [...set]; else delete o.fields;
        });
        const l = el("label", { class: "r-check" }); l.append(cb, document.createTextNode(` ${f.label}`)); wrap.append(l);
      });
      trigBody.append(wrap);
    }
    if (kind === "transitioned") {
      const wf = ((S.data.entities || {})[entOf()] || {}).workflow || {};
      const s = labelled(trigBody, T.transitions, select([["", T.transition_any], ...Object.keys(wf.transitions || {}).map((t) => [t, t])], o.transition));
      s.addEventListener("change", () => { if (s.value) o.transition = s.value; else delete o.transition; });
    }
    if (kind === "schedule" || kind === "overdue") {
      if (kind === "overdue") {
        const dates = fields.filter((f) => f.type === "date" || f.type === "datetime");
        const first = cond.rows.find((r) => r.op === "overdue_days" || r.op === "overdue_hours") || null;
        const df = labelled(trigBody, T.overdue_field, select(dates.map((f) => [f.key, f.label]), first ? first.field : ""));
        df.id = "r-overdue-field";
        const n = labelled(trigBody, T.overdue_by, el("input", { id: "r-overdue-n", type: "number", min: "0", value: first ? first.value : "1", class: "short" }));
        const unit = select([["overdue_days", T.days], ["overdue_hours", T.hours]], first ? first.op : "overdue_days");
        unit.id = "r-overdue-unit";
        trigBody.append(unit);
        const apply = () => {
          const row = { field: df.value, op: unit.value, value: String(n.value || "0") };
          const i = cond.rows.findIndex((r) => r.op === "overdue_days" || r.op === "overdue_hours");
          if (i >= 0) cond.rows[i] = row; else cond.rows.unshift(row);
          cond.join = "and";
          renderRows(); fromRows();
        };
        [df, n, unit].forEach((x) => x.addEventListener("change", apply));
        if (!first && dates.length) apply();
      }
      const sched = String(o.schedule || "every 1h");
      const isCron = sched.startsWith("cron:");
      const freq = labelled(trigBody, T.schedule_every, select([["every 15m", T.every_15m], ["every 1h", T.every_1h],
        ["every 1d", T.every_1d], ["cron", T.cron]], isCron ? "cron" : sched));
      freq.id = "r-schedule";
      const cron = labelled(trigBody, T.cron_line, el("input", { id: "r-cron", value: isCron ? sched.slice(5).trim() : "", placeholder: "0 8 * * 1-5" }));
      cron.parentElement.hidden = !isCron;
      const setSched = () => { o.schedule = freq.value === "cron" ? `cron: ${cron.value.trim()}` : freq.value; cron.parentElement.hidden = freq.value !== "cron"; };
      freq.addEventListener("change", setSched);
      cron.addEventListener("input", setSched);
      const [a, b] = String(o.between || "-").split("-");
      const w = el("div", { class: "r-window" });
      w.append(el("span", {}, T.window));
      const from = labelled(w, T.window_from, el("input", { type: "time", id: "r-from", value: a || "" }));
      const to = labelled(w, T.window_to, el("input", { type: "time", id: "r-to", value: b || "" }));
      const setWin = () => { if (from.value && to.value) o.between = `${from.value}-${to.value}`; else delete o.between; };
      from.addEventListener("change", setWin);
      to.addEventListener("change", setWin);
      trigBody.append(w);
      const tz = labelled(trigBody, T.timezone, el("input", { id: "r-tz", value: o.timezone || "", placeholder: "Asia/Shanghai" }));
      tz.addEventListener("input", () => { if (tz.value.trim()) o.timezone = tz.value.trim(); else delete o.timezone; });
    }
  }

  /* ---- condition: picker rows <-> expression */
  const cond = cur.cond || (cur.cond = { rows: [], join: "and", loaded: false });
  const cs = section(T.condition);
  cs.append(el("p", { class: "d-hint" }, T.cond_help));
  const join = select([["and", T.join_and], ["or", T.join_or]], cond.join);
  join.id = "r-join";
  cs.append(join);
  const rowsBox = el("div", { class: "r-rows", id: "r-cond-rows" });
  cs.append(rowsBox);
  const addRow = el("button", { type: "button", id: "r-add-row" }, T.add_row);
  cs.append(addRow);
  const expr = labelled(cs, T.expression, el("textarea", { id: "r-when", rows: "2", spellcheck: "false" }));
  expr.parentElement.className = "r-expr";
  expr.value = spec.when || "";
  const verdict = el("p", { id: "r-cond-status", class: "r-verdict" });
  cs.append(verdict);

  function show(res) {
    if (!res.ok) { verdict.textContent = errorText(res); verdict.className = "r-verdict bad"; return; }
    const d = res.data;
    if (!d.ok) {
      verdict.textContent = d.errors.map((e) => `${e.row !== undefined ? `#${e.row + 1} ` : ""}${e.message}${e.hint ? ` (${e.hint})` : ""}`).join("; ");
      verdict.className = "r-verdict bad";
      return;
    }
    verdict.textContent = d.sql === false ? `${T.cond_not_sql}${d.sql_problem || ""}` : T.cond_ok;
    verdict.className = `r-verdict ${d.sql === false ? "warn" : "ok"}`;
  }
  async function fromRows() {
    const rows = cond.rows.filter((r) => r.field);
    if (!rows.length) { delete spec.when; expr.value = ""; verdict.textContent = ""; return; }
    const res = await call("POST", `${URL_APP}/condition`, { entity: entOf(), rows, join: cond.join });
    if (res.ok && res.data.expr) { spec.when = res.data.expr; expr.value = res.data.expr; }
    show(res);
  }
  const fromExpr = debounce(async () => {
    const text = expr.value.trim();
    if (!text) { delete spec.when; verdict.textContent = ""; return; }
    spec.when = text;
    const res = await call("POST", `${URL_APP}/condition`, { entity: entOf(), expr: text });
    show(res);
    if (res.ok && res.data.picker) { cond.rows = res.data.picker.rows; cond.join = res.data.picker.join; join.value = cond.join; renderRows(); }
  }, 300);
  expr.addEventListener("input", fromExpr);
  join.addEventListener("change", () => { cond.join = join.value; fromRows(); });
  addRow.addEventListener("click", () => { cond.rows.push({ field: "", op: "==", value: "" }); renderRows(); });

  function renderRows() {
    rowsBox.replaceChildren();
    const fields = fieldsOf(S.data, entOf());
    cond.rows.forEach((row, i) => {
      const line = el("div", { class: "r-row", "data-row": String(i) });
      const f = select([["", "—"], ...fields.map((x) => [x.key, `${x.label} (${x.key})`])], row.field);
      f.className = "r-row-field";
      const op = select(OPS.map(([v, k]) => [v, T[k]]), row.op);
      op.className = "r-row-op";
      const val = el("input", { class: "r-row-value", value: row.value || "", placeholder: T.value_hint });
      const rm = el("button", { type: "button", class: "link r-row-remove" }, T.remove);
      const upd = () => { row.field = f.value; row.op = op.value; row.value = val.value; fromRows(); };
      f.addEventListener("change", upd);
      op.addEventListener("change", upd);
      val.addEventListener("input", debounce(upd, 300));
      rm.addEventListener("click", () => { cond.rows.splice(i, 1); renderRows(); fromRows(); });
      line.append(f, op, val, rm);
      rowsBox.append(line);
    });
  }
  if (!cond.loaded) {
    cond.loaded = true;
    if (spec.when && entOf()) {
      call("POST", `${URL_APP}/condition`, { entity: entOf(), expr: spec.when }).then((res) => {
        show(res);
        if (res.ok && res.data.picker) { cond.rows = res.data.picker.rows; cond.join = res.data.picker.join; join.value = cond.join; renderRows(); }
      });
    }
  }
  renderRows();
  renderTrigger();

  /* ---- once / batch */
  const os = section(T.once);
  const onceVal = typeof spec.once === "object" && spec.once && spec.once.repeat ? "repeat" : (spec.once || "");
  const once = labelled(os, T.once, select([["", "—"], ...ONCE.map((k) => [k, T[`once_${k}`]]), ["repeat", T.once_repeat]], onceVal));
  once.id = "r-once";
  const rep = labelled(os, T.once_repeat, el("input", { id: "r-repeat", value: (typeof spec.once === "object" && spec.once && spec.once.repeat) || "24h", class: "short", pattern: "\\d+[mhd]" }));
  rep.parentElement.hidden = onceVal !== "repeat";
  const setOnce = () => {
    rep.parentElement.hidden = once.value !== "repeat";
    if (!once.value) delete spec.once; else spec.once = once.value === "repeat" ? { repeat: rep.value.trim() || "24h" } : once.value;
  };
  once.addEventListener("change", setOnce);
  rep.addEventListener("input", setOnce);
  const links = fieldsOf(S.data, entOf()).filter((f) => f.type === "link");
  const bb = labelled(os, T.batch_by, select([["", T.batch_none], ...links.map((f) => [f.key, f.label])], spec.batch_by));
  bb.id = "r-batch-by";
  bb.addEventListener("change", () => { if (bb.value) spec.batch_by = bb.value; else delete spec.batch_by; });

  /* ---- actions */
  renderActions(section(T.actions), ctx, entOf);

  /* ---- save, delete, test now */
  const bar = el("div", { class: "d-actions r-bar" });
  const saveBtn = el("button", { type: "button", class: "primary", id: "r-save" }, T.save_rule);
  saveBtn.addEventListener("click", () => ctx.save());
  const del = el("button", { type: "button", id: "r-delete" }, T.delete_rule);
  del.addEventListener("click", () => ctx.remove());
  const at = el("input", { type: "datetime-local", id: "r-test-at", "aria-label": T.test_at });
  const test = el("button", { type: "button", id: "r-test" }, T.test_now);
  const atl = el("label", {}, `${T.test_at} `);
  atl.append(at);
  bar.append(saveBtn, del, atl, test);
  box.append(bar);
  const out = el("div", { id: "r-test-result", class: "r-test", "aria-live": "polite" });
  box.append(out);
  test.addEventListener("click", async () => {
    out.replaceChildren(el("p", {}, "…"));
    const res = await call("POST", `${URL_APP}/rules/${encodeURIComponent(cur.key)}/test`,
      { rule: spec, templates: cur.templates, at: at.value || null });
    renderTest(out, res, ctx);
  });
  status(cur.isNew ? "unsaved" : "", "");
}

function renderTest(out, res, ctx) {
  const { T, el, tx, warningText } = ctx;
  out.replaceChildren();
  if (!res.ok) {
    out.append(el("p", { class: "d-error" }, errorText(res)));
    ((res.data && res.data.error && res.data.error.errors) || []).forEach((e) => out.append(el("p", { class: "d-error" }, `${e.path} ${e.message}`)));
    return;
  }
  const d = res.data;
  out.append(el("p", { class: "r-at" }, d.at));
  if (d.in_window === false) out.append(el("p", { class: "d-warning" }, T.test_window));
  out.append(el("h3", {}, tx("test_records", { n: d.records.length }) + (d.more ? ` ${T.test_more}` : "")));
  const ul = el("ul", { id: "r-test-records" });
  d.records.forEach((r) => ul.append(el("li", { class: r.fired ? "fired" : "" }, `${r.name}${r.state ? ` · ${r.state}` : ""}${r.fired ? ` · ${T.test_fired}` : ""}`)));
  if (!d.records.length) ul.append(el("li", {}, T.test_none));
  out.append(ul);
  if (d.unreachable.length) {
    out.append(el("h3", { class: "bad" }, `⚠ ${T.unreachable}`));
    const w = el("ul", { id: "r-test-unreachable" });
    d.unreachable.forEach((u) => w.append(el("li", { class: "d-warning" }, warningText(u))));
    out.append(w);
  }
  out.append(el("h3", {}, tx("test_messages", { n: d.messages.length })));
  const m = el("ul", { id: "r-test-messages" });
  d.messages.forEach((x) => m.append(el("li", {}, `${x.to}: ${x.text}`)));
  out.append(m);
  if (d.notifications.length) {
    out.append(el("h3", {}, tx("test_notifications", { n: d.notifications.length })));
    const n = el("ul", {});
    d.notifications.forEach((x) => n.append(el("li", {}, `${x.users.join(", ")}: ${x.text}`)));
    out.append(n);
  }
  const shown = (v) => Object.entries(v || {}).map(([k, x]) => `${k} = ${x === null ? "—" : typeof x === "object" ? JSON.stringify(x) : x}`).join(", ");
  d.other.forEach((o) => {
    if (o.kind === "update") {
      out.append(el("h3", {}, tx("test_update", { entity: o.entity, n: o.details.filter((x) => !x.skipped).length })));
      const u = el("ul", { class: "r-test-update" });
      o.details.forEach((x) => u.append(el("li", {}, `${x.record} → ${x.target} #${x.target_id ?? "—"}: ${x.skipped ? T.test_skipped : shown(x.values)}`)));
      out.append(u);
    } else if (o.kind === "explode") {
      const counts = Object.entries(o.creates).map(([k, n]) => `${k} × ${n}`).join(", ") || "0";
      out.append(el("h3", {}, tx("test_explode", { counts })));
      const u = el("ul", { class: "r-test-explode" });
      o.details.forEach((x) => u.append(el("li", {}, `${x.record} → ${x.entity}: ${shown(x.values)}`)));
      out.append(u);
    } else out.append(el("p", {}, tx("test_other", { kind: o.kind, n: o.records })));
  });
}
