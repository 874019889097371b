/* A rule's actions: SMS (recipients: a phone field, a linked record's phone, users of roles, users, a fixed
 * number; template with its variables and a rendered preview for a chosen record; recipients who cannot be
 * texted are warned about at once), in-app notification, webhook, set fields, transition, create a record. */
import { call, errorText } from "./api.js";
import { fieldsOf } from "./rule_form.js";

const KINDS = ["sms", "notify", "webhook", "set", "transition", "create", "update", "explode"];
const VARS = /\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g;

function roleNames(data) {
  const r = data.roles || [];
  return Array.isArray(r) ? r : Object.keys(r);
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

export function renderActions(box, ctx, entOf) {
  const { S, T, el } = ctx;
  const spec = S.current.spec;
  if (!Array.isArray(spec.do)) spec.do = [];
  const list = el("div", { class: "r-actions", id: "r-actions" });
  box.append(list);
  const draw = () => {
    list.replaceChildren();
    spec.do.forEach((action, i) => list.append(card(action, i)));
  };
  const add = el("select", { id: "r-add-action", "aria-label": T.add_action });
  add.append(el("option", { value: "" }, `+ ${T.add_action}`));
  KINDS.forEach((k) => add.append(el("option", { value: k }, T[`act_${k}`])));
  add.addEventListener("change", () => {
    const k = add.value;
    add.value = "";
    if (!k) return;
    const blank = { sms: { to: "", template: "" }, notify: { message: "" }, webhook: { url: "https://" }, set: {},
      transition: "", create: { entity: entOf(), values: {} }, update: { link: "", set: {} },
      explode: { item: "", qty: "", bom: { entity: "", product: "", lines: "", item: "", qty: "" },
        create: { entity: "", values: {} } } }[k];
    spec.do.push({ [k]: blank });
    draw();
  });
  box.append(add);

  function card(action, i) {
    const kind = Object.keys(action)[0];
    const c = el("div", { class: "r-action", "data-kind": kind, "data-index": String(i) });
    const head = el("div", { class: "r-action-head" });
    head.append(el("strong", {}, T[`act_${kind}`] || T.act_other));
    const rm = el("button", { type: "button", class: "link" }, T.remove);
    rm.addEventListener("click", () => { spec.do.splice(i, 1); draw(); });
    head.append(rm);
    c.append(head);
    const body = el("div", { class: "r-action-body" });
    c.append(body);
    const ed = { sms, notify, webhook, set: setFields, transition, create, update, explode }[kind];
    if (ed) ed(body, action, kind);
    else body.append(el("pre", { class: "d-diff" }, JSON.stringify(action[kind], null, 1)));
    return c;
  }

  const labelled = (parent, text, input) => { const l = el("label", {}, `${text} `); l.append(input); parent.append(l); return input; };
  const select = (options, value) => {
    const s = el("select", {});
    options.forEach(([v, text]) => { const o = el("option", { value: v }, text); if (String(v) === String(value ?? "")) o.selected = true; s.append(o); });
    return s;
  };
  const csv = (v) => v.split(/[,，、\s]+/).map((x) => x.trim()).filter(Boolean);

  function sms(body, action) {
    const a = action.sms;
    const fields = fieldsOf(S.data, entOf());
    const phones = fields.filter((f) => f.type === "phone");
    const linkPhones = [];
    fields.filter((f) => f.type === "link" && f.to).forEach((f) => fieldsOf(S.data, f.to).filter((g) => g.type === "phone")
      .forEach((g) => linkPhones.push([`${f.key}.${g.key}`, `${f.label} → ${g.label}`])));
    const to = String(a.to || "");
    let mode = !to ? "" : phones.some((f) => f.key === to) ? "field" : linkPhones.some(([v]) => v === to) ? "link"
      : /^'\+?[0-9-]+'$/.test(to) ? "fixed" : "expr";
    const rec = el("div", { class: "r-recipients" });
    rec.append(el("h4", {}, T.recipients));
    body.append(rec);
    const modeSel = labelled(rec, T.recipients, select([["", "—"], ["field", T.to_field], ["link", T.to_link],
      ["fixed", T.to_fixed], ["expr", T.to_expr]], mode));
    modeSel.className = "r-to-mode";
    const toBox = el("span", { class: "r-to" });
    rec.append(toBox);
    const drawTo = () => {
      toBox.replaceChildren();
      if (mode === "field" || mode === "link") {
        const opts = mode === "field" ? phones.map((f) => [f.key, f.label]) : linkPhones;
        const s = select([["", "—"], ...opts], a.to);
        s.className = "r-to-value";
        s.addEventListener("change", () => { if (s.value) a.to = s.value; else delete a.to; });
        if (!a.to && opts.length) { a.to = opts[0][0]; s.value = a.to; }
        toBox.append(s);
      } else if (mode === "fixed" || mode === "expr") {
        const v = el("input", { class: "r-to-value", value: mode === "fixed" ? String(a.to || "").replace(/'/g, "") : a.to || "" });
        v.addEventListener("input", () => {
          const x = v.value.trim();
          if (!x) delete a.to; else a.to = mode === "fixed" ? `'${x.replace(/'/g, "")}'` : x;
        });
        toBox.append(v);
      } else delete a.to;
    };
    modeSel.addEventListener("change", () => { mode = modeSel.value; if (mode !== "fixed" && mode !== "expr") delete a.to; else a.to = ""; drawTo(); });
    drawTo();
    const roles = el("div", { class: "r-roles" });
    roles.append(el("span", {}, T.to_roles));
    roleNames(S.data).forEach((r) => {
      const cb = el("input", { type: "checkbox", value: r, class: "r-role" });
      cb.checked = (a.to_roles || []).includes(r);
      cb.addEventListener("change", () => {
        const set = new Set(a.to_roles || []);
        if (cb.checked) set.add(r); else set.delete(r);
        if (set.size) a.to_roles = [...set]; else delete a.to_roles;
        warn();
      });
      const l = el("label", { class: "r-check" }); l.append(cb, document.createTextNode(` ${r}`)); roles.append(l);
    });
    rec.append(roles);
    const users = labelled(rec, T.to_users, el("input", { class: "r-users", value: (a.to_users || []).join(", ") }));
    users.addEventListener("input", debounce(() => { const v = csv(users.value); if (v.length) a.to_users = v; else delete a.to_users; warn(); }, 300));
    const warnings = el("ul", { class: "r-warnings", role: "alert" });
    rec.append(warnings);
    async function warn() {
      warnings.replaceChildren();
      if (!(a.to_roles || []).length && !(a.to_users || []).length) return;
      const res = await call("POST", `${ctx.URL_APP}/recipients`, { roles: a.to_roles || [], users: a.to_users || [] });
      if (!res.ok) return;
      res.data.unreachable.forEach((u) => warnings.append(el("li", { class: "d-warning" }, `⚠ ${ctx.warningText(u)}`)));
    }
    warn();

    /* template, variables, preview */
    const tpls = S.data.templates || {};
    const names = [...new Set([...Object.keys(tpls), ...Object.keys(S.current.templates)])];
    const tplSel = labelled(body, T.template, select([["", "—"], ...names.map((n) => [n, n]), ["__new", `+ ${T.template_new}`]], a.template));
    tplSel.className = "r-template";
    const newName = el("input", { class: "r-template-name", placeholder: T.rule_key, hidden: "" });
    body.append(newName);
    const text = labelled(body, T.template_text, el("textarea", { class: "r-template-text", rows: "3" }));
    text.parentElement.className = "r-expr";
    const params = el("div", { class: "r-params" });
    body.append(params);
    const current = () => (a.template && (S.current.templates[a.template] || tpls[a.template])) || null;
    const fill = () => { const t = current(); text.value = t ? t.text || "" : ""; text.disabled = !a.template; drawParams(); };
    tplSel.addEventListener("change", () => {
      if (tplSel.value === "__new") { newName.hidden = false; newName.focus(); return; }
      newName.hidden = true;
      a.template = tplSel.value;
      fill();
    });
    newName.addEventListener("change", () => {
      const n = newName.value.trim();
      if (!/^[a-z][a-z0-9_]{0,47}$/.test(n)) return;
      S.current.templates[n] = S.current.templates[n] || { text: "" };
      a.template = n;
      tplSel.append(el("option", { value: n }, n));
      tplSel.value = n;
      newName.hidden = true;
      fill();
    });
    text.addEventListener("input", () => {
      if (!a.template) return;
      const base = tpls[a.template] ? { ...tpls[a.template] } : {};
      S.current.templates[a.template] = { ...base, ...(S.current.templates[a.template] || {}), text: text.value };
      drawParams();
      refresh();
    });
    function drawParams() {
      params.replaceChildren();
      const t = current();
      const vars = [...new Set([...((t && t.text) || "").matchAll(VARS)].map((m) => m[1]))].filter((v) => v !== "count" && v !== "link");
      if (vars.length) params.append(el("h4", {}, T.params));
      const p = a.params || {};
      const fieldKeys = fieldsOf(S.data, entOf()).map((f) => f.key);
      vars.forEach((v) => {
        if (p[v] === undefined && fieldKeys.includes(v)) p[v] = v;
        const inp = labelled(params, `{{ ${v} }}`, el("input", { class: "r-param", "data-var": v, value: p[v] || "", placeholder: T.value_expr }));
        inp.addEventListener("input", () => { p[v] = inp.value; a.params = p; refresh(); });
      });
      Object.keys(p).forEach((k) => { if (!vars.includes(k)) delete p[k]; });
      if (Object.keys(p).length) a.params = p; else delete a.params;
    }
    const pv = el("div", { class: "r-preview" });
    pv.append(el("h4", {}, T.preview));
    const recSel = labelled(pv, T.preview_record, select([["", "—"]], ""));
    recSel.className = "r-preview-record";
    const shown = el("p", { class: "r-preview-text", "aria-live": "polite" });
    pv.append(shown);
    body.append(pv);
    call("GET", `${ctx.URL_APP}/records/${encodeURIComponent(entOf() || "")}`).then((res) => {
      if (!res.ok) return;
      res.data.items.forEach((r) => recSel.append(el("option", { value: String(r.id) }, r.name)));
    });
    const refresh = debounce(async () => {
      if (!recSel.value) return;
      const res = await call("POST", `${ctx.URL_APP}/rules/${encodeURIComponent(S.current.key)}/preview`,
        { rule: spec, templates: S.current.templates, record: Number(recSel.value) });
      if (!res.ok) {
        const errs = (res.data && res.data.error && res.data.error.errors) || [];
        shown.textContent = [errorText(res), ...errs.map((e) => `${e.path}: ${e.message}${e.hint ? ` (${e.hint})` : ""}`)].join("\n");
        shown.className = "r-preview-text bad";
        return;
      }
      const i = Number(body.parentElement.dataset.index);
      const item = res.data.items.find((x) => x.action === i) || res.data.items[0];
      shown.className = "r-preview-text";
      shown.textContent = item ? `${item.to.join(", ") || "—"}: ${item.text} (${ctx.tx("chars", { n: item.chars })})` : "";
    }, 250);
    recSel.addEventListener("change", refresh);
    fill();
  }

  function notify(body, action) {
    const a = action.notify;
    const roles = el("div", { class: "r-roles" });
    roles.append(el("span", {}, T.to_roles));
    roleNames(S.data).forEach((r) => {
      const cb = el("input", { type: "checkbox", value: r });
      cb.checked = (a.roles || []).includes(r);
      cb.addEventListener("change", () => {
        const set = new Set(a.roles || []);
        if (cb.checked) set.add(r); else set.delete(r);
        if (set.size) a.roles = [...set]; else delete a.roles;
      });
      const l = el("label", { class: "r-check" }); l.append(cb, document.createTextNode(` ${r}`)); roles.append(l);
    });
    body.append(roles);
    const users = labelled(body, T.users, el("input", { value: (a.users || []).join(", ") }));
    users.addEventListener("input", () => { const v = csv(users.value); if (v.length) a.users = v; else delete a.users; });
    const msg = labelled(body, T.message, el("textarea", { rows: "2", class: "r-notify-message" }));
    msg.parentElement.className = "r-expr";
    msg.value = a.message || "";
    msg.addEventListener("input", () => { a.message = msg.value; });
  }

  function webhook(body, action) {
    const a = action.webhook;
    const url = labelled(body, T.url, el("input", { value: a.url || "", type: "url" }));
    url.addEventListener("input", () => { a.url = url.value.trim(); });
    const sec = labelled(body, T.secret, el("input", { value: a.secret || "", placeholder: "${WEBHOOK_SECRET}" }));
    sec.addEventListener("input", () => { if (sec.value.trim()) a.secret = sec.value.trim(); else delete a.secret; });
  }

  function values(body, obj, entity) {
    const box = el("div", { class: "r-values" });
    body.append(box);
    const draw = () => {
      box.replaceChildren();
      const fields = fieldsOf(S.data, entity).filter((f) => f.key !== "state");
      Object.keys(obj).forEach((k) => {
        const line = el("div", { class: "r-row" });
        const f = select(fields.map((x) => [x.key, x.label]), k);
        const v = el("input", { value: obj[k], placeholder: T.value_expr });
        f.addEventListener("change", () => { const val = obj[k]; delete obj[k]; obj[f.value] = val; draw(); });
        v.addEventListener("input", () => { obj[k] = v.value; });
        const rm = el("button", { type: "button", class: "link" }, T.remove);
        rm.addEventListener("click", () => { delete obj[k]; draw(); });
        line.append(f, el("span", {}, " = "), v, rm);
        box.append(line);
      });
      const addBtn = el("button", { type: "button" }, T.add_value);
      addBtn.addEventListener("click", () => { const free = fields.find((x) => !(x.key in obj)); if (free) { obj[free.key] = ""; draw(); } });
      box.append(addBtn);
    };
    draw();
  }

  function setFields(body, action) { values(body, action.set, entOf()); }

  function transition(body, action) {
    const wf = ((S.data.entities || {})[entOf()] || {}).workflow || {};
    const s = labelled(body, T.transitions, select([["", "—"], ...Object.keys(wf.transitions || {}).map((t) => [t, t])],
      typeof action.transition === "string" ? action.transition : ""));
    s.addEventListener("change", () => { action.transition = s.value; });
  }

  function create(body, action) {
    const a = action.create;
    if (!a.values) a.values = {};
    const ents = Object.keys(S.data.entities || {});
    const s = labelled(body, T.entity, select(ents.map((e) => [e, e]), a.entity));
    s.addEventListener("change", () => { a.entity = s.value; a.values = {}; body.replaceChildren(); create(body, action); });
    values(body, a.values, a.entity);
  }

  /* update: a linked record's fields (the partner's open count, the instrument's last calibration) */
  function update(body, action) {
    const a = action.update;
    if (!a.set) a.set = {};
    const links = fieldsOf(S.data, entOf()).filter((f) => f.type === "link" && f.to);
    const s = labelled(body, T.update_link, select([["", "—"], ...links.map((f) => [f.key, `${f.label} → ${f.to}`])], a.link));
    s.className = "r-update-link";
    const vals = el("div", { class: "r-update-values" });
    body.append(vals);
    const drawVals = () => {
      vals.replaceChildren();
      const f = links.find((x) => x.key === a.link);
      if (f) values(vals, a.set, f.to);
    };
    s.addEventListener("change", () => { a.link = s.value; a.set = {}; drawVals(); });
    drawVals();
  }

  /* explode: each order line's product through its preferred BOM (levels down) into records and operations */
  function explode(body, action) {
    const a = action.explode;
    const ents = Object.keys(S.data.entities || {});
    const tablesOf = (ent) => fieldsOf(S.data, ent).filter((f) => f.type === "table");
    const childOf = (ent, table) => {
      const f = ((((S.data.entities || {})[ent] || {}).fields) || {})[table] || {};
      return Object.entries(f.fields || {}).map(([k, g]) => ({ key: k, type: (g && g.type) || "text", label: k, to: g && g.to }));
    };
    const pickField = (parent, obj, key, text, options, optional) => {
      const sel = labelled(parent, text, select([...(optional ? [["", "—"]] : []), ...options.map((f) => [f.key, f.label === f.key ? f.key : `${f.label} (${f.key})`])], obj[key]));
      sel.dataset.explode = key;
      if (!optional && !obj[key] && options.length) obj[key] = options[0].key;
      if (!obj[key] && !optional) sel.value = "";
      sel.addEventListener("change", () => { if (sel.value) obj[key] = sel.value; else delete obj[key]; redraw(); });
      return sel;
    };
    const pickEntity = (parent, obj, text, optional) => {
      const sel = labelled(parent, text, select([...(optional ? [["", "—"]] : []), ...ents.map((e) => [e, e])], obj.entity));
      sel.addEventListener("change", () => { obj.entity = sel.value; redraw(); });
      return sel;
    };
    const redraw = () => { body.replaceChildren(); explode(body, action); };
    const part = (title) => { const f = el("fieldset", { class: "r-explode-part" }); f.append(el("legend", {}, title)); return f; };
    const start = part(T.explode_start);
    body.append(start);
    const tableSel = labelled(start, T.explode_rows, select([["", T.explode_record], ...tablesOf(entOf()).map((f) => [f.key, f.label])], a.rows));
    tableSel.dataset.explode = "rows";
    tableSel.addEventListener("change", () => { if (tableSel.value) a.rows = tableSel.value; else delete a.rows; redraw(); });
    const rowFields = a.rows ? childOf(entOf(), a.rows) : fieldsOf(S.data, entOf());
    pickField(start, a, "item", T.explode_item, rowFields.filter((f) => f.type === "link"));
    pickField(start, a, "qty", T.explode_qty, rowFields.filter((f) => ["decimal", "integer"].includes(f.type)));

    const bom = part(T.explode_bom);
    body.append(bom);
    a.bom = a.bom || {};
    pickEntity(bom, a.bom, T.entity);
    const bomFields = fieldsOf(S.data, a.bom.entity);
    pickField(bom, a.bom, "product", T.explode_product, bomFields.filter((f) => f.type === "link"));
    pickField(bom, a.bom, "lines", T.explode_lines, bomFields.filter((f) => f.type === "table"));
    const lineFields = a.bom.lines ? childOf(a.bom.entity, a.bom.lines) : [];
    pickField(bom, a.bom, "item", T.explode_item, lineFields.filter((f) => f.type === "link"));
    pickField(bom, a.bom, "qty", T.explode_qty, lineFields.filter((f) => ["decimal", "integer"].includes(f.type)));
    pickField(bom, a.bom, "sub_bom", T.explode_sub_bom, lineFields.filter((f) => f.type === "link"), true);
    pickField(bom, a.bom, "output", T.explode_output, bomFields.filter((f) => ["decimal", "integer"].includes(f.type)), true);
    pickField(bom, a.bom, "prefer", T.explode_prefer, bomFields.filter((f) => f.type === "boolean"), true);

    const routing = part(T.explode_routing);
    body.append(routing);
    const r = a.routing || { entity: "" };
    const rSel = labelled(routing, T.entity, select([["", "—"], ...ents.map((e) => [e, e])], r.entity));
    rSel.dataset.explode = "routing";
    rSel.addEventListener("change", () => {
      if (rSel.value) a.routing = { entity: rSel.value, product: "", steps: "" }; else { delete a.routing; delete a.operations; }
      redraw();
    });
    if (a.routing) {
      const rf = fieldsOf(S.data, a.routing.entity);
      pickField(routing, a.routing, "product", T.explode_product, rf.filter((f) => f.type === "link"));
      pickField(routing, a.routing, "steps", T.explode_steps, rf.filter((f) => f.type === "table"));
    }

    const made = part(T.explode_create);
    body.append(made);
    a.create = a.create || { entity: "", values: {} };
    if (!a.create.values) a.create.values = {};
    pickEntity(made, a.create, T.entity);
    made.append(el("p", { class: "r-hint" }, T.explode_names));
    if (a.create.entity) values(made, a.create.values, a.create.entity);
    if (a.routing) {
      const ops = part(T.explode_operations);
      body.append(ops);
      const o = a.operations || { entity: "", values: {} };
      const oSel = labelled(ops, T.entity, select([["", "—"], ...ents.map((e) => [e, e])], o.entity));
      oSel.addEventListener("change", () => {
        if (oSel.value) a.operations = { entity: oSel.value, values: {} }; else delete a.operations;
        redraw();
      });
      if (a.operations) {
        ops.append(el("p", { class: "r-hint" }, T.explode_op_names));
        values(ops, a.operations.values, a.operations.entity);
      }
    }
    const depth = labelled(body, T.explode_depth, el("input", { type: "number", min: "1", max: "20", value: a.max_depth || "", placeholder: "10" }));
    depth.addEventListener("input", () => { const n = Number(depth.value); if (n >= 1 && n <= 20) a.max_depth = n; else delete a.max_depth; });
  }

  draw();
}
