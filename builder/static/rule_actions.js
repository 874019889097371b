/* A rule's actions: SMS (recipients: a phone field, a linked record's phone, users of roles, users, a fixed
 * number; template with its variables and a rendered preview for a chosen record; recipients who cannot be
 * texted are warned about at once), in-app notification, webhook, set fields, transition, create a record. */
import { call, errorText } from "./api.js";
import { fieldsOf } from "./rule_form.js";

const KINDS = ["sms", "notify", "webhook", "set", "transition", "create"];
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
      transition: "", create: { entity: entOf(), values: {} } }[k];
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
    const ed = { sms, notify, webhook, set: setFields, transition, create }[kind];
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

  draw();
}
