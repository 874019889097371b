/* The connector setup page: edits the app's YAML through the builder API (draft edits, publish,
   versions, diff, rollback) and tries, syncs and watches connectors through /api/_connectors. */

const root = document.getElementById("cs");
const APP = root.dataset.app;
const T = JSON.parse(document.getElementById("cs-texts").textContent);
const B = `/api/builder/apps/${APP}`;
const C = "/api/_connectors";
const SECRET_KEYS = ["password", "secret", "app_secret", "client_secret", "token", "value", "api_key", "key_secret"];
const st = { data: {}, conn: null, op: null, presets: [], secrets: { configured: false, items: [] }, sample: null,
  errors: [], polling: null };

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute("content") : "";
}

async function call(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf(), Accept: "application/json" } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const lang = document.documentElement.lang === "en" ? "en" : "zh";
  let res;
  try { res = await fetch(`${url}${url.includes("?") ? "&" : "?"}lang=${lang}`, opts); } catch (e) {
    return { ok: false, status: 0, data: { error: { message: String(e) } } };
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  return { ok: res.ok, status: res.status, data };
}

function errText(r) { return (r.data && r.data.error && r.data.error.message) || `HTTP ${r.status}`; }

function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (k === "text") n.textContent = v;
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids) if (c !== null && c !== undefined) n.append(c);
  return n;
}

const $ = (id) => document.getElementById(id);
function status(text) { $("cs-status").textContent = text; }
function fill(node, ...kids) { node.replaceChildren(...kids); }

/* ---- the definition (through the builder API) ---- */

function conns() { return (st.data && st.data.connectors) || {}; }
function raw() { return conns()[st.conn] || {}; }
function preset() { return st.presets.find((p) => p.name === raw().preset) || null; }
function opRaw() { return ((raw().operations || {})[st.op]) || {}; }
function opSelect() {
  const p = preset();
  return opRaw().select || (p && p.operations[st.op] ? p.operations[st.op].select : []) || [];
}
function entities() { return (st.data && st.data.entities) || {}; }

async function load() {
  const r = await call("GET", B);
  if (!r.ok) { status(errText(r)); return; }
  const v = r.data.draft || r.data.published;
  st.data = v.data || {};
  const val = await call("POST", `${B}/validate`, {});
  st.errors = val.ok ? val.data.errors : [];
  render();
}

async function edit(edits, message) {
  status("…");
  const r = await call("POST", `${B}/draft/edits`, { edits, message: message || "connector setup", plan: false });
  if (!r.ok) { status(errText(r)); return false; }
  st.data = r.data.draft.data || st.data;
  st.errors = r.data.errors || [];
  status(T.draft_saved + (st.errors.length ? ` · ${st.errors.length} ${T.errors}` : ""));
  render();
  if (st.sample !== null) tryIt(true);
  return true;
}

const P = (...rest) => ["connectors", st.conn, ...rest];

/* A "set" edit that also creates the mappings on the way that do not exist yet. */
function setAt(path, value) {
  let node = st.data;
  let i = 0;
  for (; i < path.length - 1; i++) {
    const next = node && typeof node === "object" ? node[path[i]] : undefined;
    if (!next || typeof next !== "object") break;
    node = next;
  }
  let v = value;
  for (let j = path.length - 1; j > i; j--) v = { [path[j]]: v };
  return { op: "set", path: path.slice(0, i + 1), value: v };
}

/* ---- rendering ---- */

function render() {
  const names = Object.keys(conns());
  if (!st.conn || !names.includes(st.conn)) st.conn = new URLSearchParams(location.search).get("c") || names[0] || null;
  if (st.conn && !names.includes(st.conn)) st.conn = names[0] || null;
  fill($("cs-pick"), ...names.map((n) => el("option", { value: n, selected: n === st.conn, text: n })));
  $("cs-new-box").open = !names.length;
  $("cs-body").hidden = !st.conn;
  renderErrors();
  if (!st.conn) return;
  const ops = Object.entries(raw().operations || {}).filter(([k, o]) => {
    const p = preset();
    return (o.type || (p && p.operations[k] ? p.operations[k].type : "")) === "pull";
  }).map(([k]) => k);
  if (!ops.includes(st.op)) st.op = ops[0] || null;
  renderSettings();
  fill($("cs-op"), ...ops.map((k) => el("option", { value: k, selected: k === st.op, text: k })));
  const p = preset();
  $("cs-schedule").value = opRaw().schedule || (p && p.operations[st.op] ? p.operations[st.op].schedule || "" : "");
  $("cs-generic").hidden = !!raw().preset;
  $("cs-req-path").value = (opRaw().request || {}).path || "";
  $("cs-records").value = opRaw().records || "";
  $("cs-select").value = (opRaw().select || []).join(", ");
  renderMapping();
}

function renderErrors() {
  const list = $("cs-errors");
  fill(list, ...st.errors.map((e) => el("li", { text: `${e.path || "(top)"}: ${e.message}${e.hint ? " — " + e.hint : ""}` })));
  list.hidden = !st.errors.length;
}

function errorsAt(prefix) {
  return st.errors.filter((e) => e.path === prefix || (e.path || "").startsWith(prefix + "."));
}

function renderSettings() {
  const r = raw();
  const p = preset();
  $("cs-base-url").value = r.base_url || "";
  const vars = { ...((p && p.vars) || {}), ...(r.vars || {}) };
  const plain = Object.keys(vars).filter((k) => !SECRET_KEYS.includes(k));
  fill($("cs-vars"), ...plain.map((k) => el("label", {}, k, el("input", {
    value: (r.vars || {})[k] ?? "", placeholder: String(vars[k] ?? ""), "data-var": k,
    onchange: (ev) => {
      const v = ev.target.value.trim();
      edit([v === "" ? { op: "delete", path: P("vars", k) }
        : setAt(P("vars", k), /^\d+$/.test(v) && typeof vars[k] === "number" ? Number(v) : v)]);
    },
  }))));
  const secretKeys = [...new Set([...((p && p.secrets) || []), ...Object.keys(r.vars || {}).filter((k) => SECRET_KEYS.includes(k))])];
  $("cs-no-key").hidden = st.secrets.configured;
  fill($("cs-secrets"), ...secretKeys.map((k) => secretRow(k, (r.vars || {})[k] || (p && p.secret_defaults ? p.secret_defaults[k] : ""))));
}

function secretRow(k, current) {
  const stored = /^\$\{secret:([a-z0-9_]+)\}$/.exec(current || "");
  const sname = stored ? stored[1] : `${st.conn}_${k}`;
  const info = st.secrets.items.find((s) => s.name === sname);
  const env = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(current || "");
  const group = `cs-mode-${k}`;
  const envInput = el("input", { value: env ? env[1] : "", placeholder: `${st.conn.toUpperCase()}_${k.toUpperCase()}`,
    "aria-label": `${k} ${T.use_env}`,
    onchange: (ev) => ev.target.value.trim() && edit([setAt(P("vars", k), `\${${ev.target.value.trim()}}`)]) });
  const pw = el("input", { type: "password", autocomplete: "new-password", "aria-label": `${k} ${T.use_stored}` });
  const save = el("button", { type: "button", disabled: !st.secrets.configured, text: T.save_secret, onclick: async () => {
    if (!pw.value) return;
    const r = await call("PUT", `${C}/_secrets/${sname}`, { value: pw.value });
    pw.value = "";
    if (!r.ok) { status(errText(r)); return; }
    await loadSecrets();
    edit([setAt(P("vars", k), `\${secret:${sname}}`)]);
  } });
  const shown = info ? `${T.secret_set} · ${T.secret_on} ${info.set_at.replace("T", " ").slice(0, 16)} · ${T.secret_by} ${info.set_by || "?"}`
    : T.secret_unset;
  return el("fieldset", { class: "cs-secret" }, el("legend", { text: k }),
    el("label", {}, el("input", { type: "radio", name: group, checked: !stored }), T.use_env), envInput,
    el("label", {}, el("input", { type: "radio", name: group, checked: !!stored, disabled: !st.secrets.configured }), T.use_stored),
    pw, save, el("span", { class: "cs-secret-state", "data-secret": sname, text: stored ? shown : (info ? shown : "") }));
}

function fieldType(f) { return `${f.type || "text"}${f.to ? " → " + f.to : ""}${f.unique ? " · unique" : ""}`; }

/* One mapping row: Jig field ← ERP field or expression, with lookup and "create when missing" for links.
   ``path`` is where the mapping lives in the YAML, ``errPath`` the same as a dotted error path, ``id`` the
   row's name on the page (``qty`` or ``lines.qty``). */
function mapRow(name, f, m, path, errPath, id, isKey) {
  const src = typeof m === "string" ? m : (m && typeof m === "object" ? m.value || "" : (m ?? ""));
  const target = f.type === "link" ? (entities()[f.to] || { fields: {} }) : null;
  const errs = errorsAt(errPath);
  const input = el("input", { list: "cs-erp-fields", value: String(src), "data-field": id, "aria-label": `${id} ← ERP` });
  const by = target ? el("select", { "data-by": id, "aria-label": `${id} lookup` },
    ...Object.entries(target.fields).filter(([, tf]) => tf.unique).map(([k]) => el("option", { value: k, selected: m && m.by === k, text: `${f.to}.${k}` })))
    : el("span", { text: "" });
  const createFrom = target && target.fields.name ? el("input", { list: "cs-erp-fields", "data-create": id,
    value: (m && m.create && m.create.name) || "", "aria-label": `${id} create name` }) : el("span");
  const save = () => {
    const v = input.value.trim();
    if (!v) return edit([{ op: "delete", path }]);
    let value = v;
    if (target) {
      value = { lookup: f.to, by: by.value, value: v };
      if (createFrom.value && createFrom.value.trim()) value.create = { name: createFrom.value.trim() };
    }
    return edit([setAt(path, value)]);
  };
  input.addEventListener("change", save);
  if (target) { by.addEventListener("change", save); createFrom.addEventListener("change", save); }
  return el("tr", { class: errs.length ? "cs-bad" : null, "data-row": id },
    el("td", {}, el("strong", { text: name }), isKey ? el("small", { text: " · key" }) : null),
    el("td", { text: fieldType(f) }),
    el("td", {}, input, ...errs.map((e) => el("div", { class: "cs-err", text: e.message }))),
    el("td", {}, by), el("td", {}, createFrom));
}

const mappable = (fields) => Object.entries(fields || {}).filter(([, f]) => !["computed", "table"].includes(f.type));

function renderMapping() {
  const o = opRaw();
  const ent = entities()[o.entity] || { fields: {} };
  const maps = o.fields || {};
  const prefix = `connectors.${st.conn}.operations.${st.op}`;
  fill($("cs-mapping").tBodies[0], ...mappable(ent.fields).map(([name, f]) => mapRow(name, f, maps[name],
    P("operations", st.op, "fields", name), `${prefix}.fields.${name}`, name, name === o.key)));
  const tables = Object.entries(ent.fields || {}).filter(([, f]) => f.type === "table");
  fill($("cs-children"), ...tables.map(([cname, tf]) => childTable(cname, tf, (o.children || {})[cname] || {}, prefix)));
  const fromNames = Object.values(o.children || {}).map((c) => c.from).filter(Boolean);
  const names = opSelect().flatMap((n) => [n, ...fromNames.filter((p) => n.startsWith(p + ".")).map((p) => n.slice(p.length + 1))]);
  fill($("cs-erp-fields"), ...[...new Set(names)].map((f) => el("option", { value: f })));
}

/* A child table (an order's lines): where its rows are in the ERP record, their key, and a mapping row per field. */
function childTable(cname, tf, cm, prefix) {
  const base = ["operations", st.op, "children", cname];
  const errBase = `${prefix}.children.${cname}`;
  const fields = tf.fields || {};
  const own = st.errors.filter((e) => e.path === errBase || e.path === `${errBase}.from` || e.path === `${errBase}.key`);
  const from = el("input", { value: cm.from || "", "data-child-from": cname, placeholder: T.rows_grouped,
    "aria-label": `${cname} ${T.rows_from}`, onchange: (ev) => {
      const v = ev.target.value.trim();
      edit([v ? setAt(P(...base, "from"), v) : { op: "delete", path: P(...base, "from") }]);
    } });
  const key = el("select", { "data-child-key": cname, "aria-label": `${cname} ${T.row_key}`, onchange: (ev) => {
    const v = ev.target.value;
    edit([v ? setAt(P(...base, "key"), v) : { op: "delete", path: P(...base, "key") }]);
  } }, el("option", { value: "", text: "—" }),
  ...Object.keys(fields).map((k) => el("option", { value: k, selected: cm.key === k, text: k })));
  const label = typeof tf.label === "object" && tf.label ? (tf.label[document.documentElement.lang === "en" ? "en" : "zh"] || tf.label.zh || "") : (tf.label || "");
  const maps = cm.fields || {};
  return el("div", { class: "cs-child", "data-child": cname },
    el("h3", { text: `${T.children}: ${cname}${label ? " · " + label : ""}` }),
    el("div", { class: "cs-grid" }, el("label", {}, T.rows_from, from), el("label", {}, T.row_key, key)),
    ...own.map((e) => el("div", { class: "cs-err", text: `${e.message}${e.hint ? " — " + e.hint : ""}` })),
    el("div", { class: "cs-scroll" }, el("table", { class: "cs-table", id: `cs-child-${cname}` },
      el("thead", {}, el("tr", {}, ...[T.child_field, T.type, T.erp_field, T.lookup, T.create_name].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...mappable(fields).map(([name, f]) => mapRow(name, f, maps[name], P(...base, "fields", name),
        `${errBase}.fields.${name}`, `${cname}.${name}`, name === cm.key))))));
}

/* ---- test connection and preview ---- */

async function tryIt(previewOnly) {
  const body = { operation: st.op };
  if (previewOnly) body.sample = st.sample;
  else { status(T.test + " …"); $("cs-raw").textContent = "…"; }
  const r = await call("POST", `${C}/_try/${APP}/${st.conn}`, body);
  if (!r.ok) { status(errText(r)); if (!previewOnly) $("cs-raw").textContent = errText(r); return; }
  if (!r.data.ok) { status(r.data.error); if (!previewOnly) $("cs-raw").textContent = r.data.error; return; }
  if (!previewOnly) { st.sample = r.data.raw; $("cs-raw").textContent = JSON.stringify(r.data.raw, null, 1); status(`${T.test}: ${r.data.records}`); }
  const rows = r.data.rows;
  const cols = [...new Set(rows.flatMap((x) => Object.keys(x.values)))];
  const head = el("tr", {}, ...cols.map((c) => el("th", { text: c })), el("th", { text: T.errors }));
  const body2 = rows.map((x) => el("tr", { class: x.errors.length ? "cs-bad" : null },
    ...cols.map((c) => el("td", { text: x.values[c] === null || x.values[c] === undefined ? "" : String(x.values[c]) })),
    el("td", { class: "cs-err", text: x.errors.join("; ") })));
  const withLines = [];
  rows.forEach((x, i) => {
    withLines.push(body2[i]);
    for (const [cname, crs] of Object.entries(x.children || {})) {
      if (!crs.length) continue;
      const ccols = [...new Set(crs.flatMap((c) => Object.keys(c)))].filter((c) => !c.startsWith("__"));
      withLines.push(el("tr", { class: "cs-child-rows", "data-child": cname }, el("td", { colspan: cols.length + 1 },
        el("table", { class: "cs-table" }, el("thead", {}, el("tr", {}, el("th", { text: cname }), ...ccols.map((c) => el("th", { text: c })))),
          el("tbody", {}, ...crs.map((c, j) => el("tr", {}, el("td", { text: String(j + 1) }),
            ...ccols.map((k) => el("td", { text: c[k] === null || c[k] === undefined ? "" : String(c[k]) })))))))));
    }
  });
  const bad = r.data.malformed.map((m) => el("tr", { class: "cs-bad" }, el("td", { colspan: cols.length + 1, class: "cs-err", text: m })));
  fill($("cs-mapped"), el("table", { class: "cs-table", id: "cs-mapped-table" }, el("thead", {}, head), el("tbody", {}, ...withLines, ...bad)));
}

/* ---- publish, versions, diff, rollback ---- */

async function publish() {
  const r = await call("POST", `${B}/publish`, { message: $("cs-message").value || "connector setup" });
  if (!r.ok) {
    status(errText(r));
    if (r.data && r.data.error && r.data.error.errors) { st.errors = r.data.error.errors; renderErrors(); }
    return;
  }
  await load();
  await versions();
  $("cs-published").textContent = `${T.published} ${r.data.version.number}`;
}

async function versions() {
  const r = await call("GET", `${B}/versions`);
  if (!r.ok) return;
  const live = (r.data.items.find((v) => v.status === "published") || {}).number;
  fill($("cs-versions"), ...r.data.items.slice(0, 8).map((v) => el("li", {},
    `v${v.number} · ${v.author || ""} · ${(v.created_at || "").replace("T", " ").slice(0, 16)} · ${v.message || ""} `,
    el("button", { type: "button", text: T.diff, onclick: () => diff(v) }),
    v.number === live || v.status === "draft" ? null : el("button", { type: "button", text: T.rollback, onclick: () => rollback(v.number) }))));
}

async function diff(v) {
  const from = v.based_on || Math.max(1, v.number - 1);
  const r = await call("GET", `${B}/diff?from=${from}&to=${v.number}`);
  $("cs-diff").hidden = false;
  $("cs-diff").textContent = r.ok ? (r.data.diff || "=") : errText(r);
}

async function rollback(n) {
  if (!confirm(`${T.rollback} v${n}?`)) return;
  const r = await call("POST", `${B}/rollback`, { number: n, message: `rollback to v${n}` });
  status(r.ok ? `${T.published} ${r.data.version.number}` : errText(r));
  await load();
  await versions();
}

/* ---- sync now, live log, runs, quarantine, report ---- */

function summary(run) {
  const c = run.counts || {};
  const bits = ["fetched", "created", "updated", "unchanged", "failed", "quarantined", "pages"]
    .filter((k) => c[k] !== undefined).map((k) => `${k} ${c[k]}`);
  const errs = (run.detail && run.detail.errors) || [];
  return bits.join(" · ") + (errs.length ? ` — ${errs.slice(0, 3).join("; ")}` : "");
}

async function syncNow() {
  const r = await call("POST", `${C}/${st.conn}/sync`, {});
  if (!r.ok) { status(errText(r)); return; }
  $("cs-progress").hidden = false;
  $("cs-progress").removeAttribute("value");
  $("cs-log").replaceChildren();
  const since = { request: r.data.after_request, run: r.data.after_run };
  clearInterval(st.polling);
  st.polling = setInterval(() => poll(since), 700);
}

async function poll(since) {
  const [runs, reqs] = await Promise.all([call("GET", `${C}/${st.conn}/runs?limit=1`),
    call("GET", `${C}/${st.conn}/requests?after=${since.request}&limit=200`)]);
  if (reqs.ok) {
    const items = reqs.data.items.slice().reverse();
    for (const q of items) {
      $("cs-log").append(el("li", { class: q.outcome, text: `${q.at.slice(11, 19)} ${q.method} ${q.url.replace(/^https?:\/\/[^/]+/, "").slice(0, 90)} → ${q.status ?? "-"} ${q.outcome} ${q.ms ?? ""}ms${q.error ? " " + q.error : ""}` }));
      since.request = Math.max(since.request, q.id);
    }
  }
  const run = runs.ok && runs.data.items[0];
  if (!run || run.id <= since.run) return;
  $("cs-progress-text").textContent = `#${run.id} ${run.status} · ${summary(run)}`;
  if (run.status === "running") return;
  clearInterval(st.polling);
  $("cs-progress").max = 1;
  $("cs-progress").value = 1;
  const ent = opRaw().entity;
  if (ent) { $("cs-list-link").href = `/a/${APP}/${ent}`; $("cs-list-link").hidden = false; }
  await history();
}

async function history() {
  if (!st.conn) return;
  const [runs, quar, reps] = await Promise.all([call("GET", `${C}/${st.conn}/runs?limit=10`),
    call("GET", `${C}/${st.conn}/quarantine`), call("GET", `${C}/${st.conn}/reports?limit=1`)]);
  const none = () => el("tr", {}, el("td", { colspan: 4, text: T.none }));
  if (runs.status === 404) return; // not published yet
  fill($("cs-runs").tBodies[0], ...(runs.ok && runs.data.items.length ? runs.data.items.map((x) => el("tr", { class: x.status === "ok" ? null : "cs-bad" },
    el("td", { text: x.id }), el("td", { text: (x.started_at || "").replace("T", " ").slice(0, 19) }),
    el("td", { text: x.status }), el("td", { text: summary(x) }))) : [none()]));
  fill($("cs-quarantine").tBodies[0], ...(quar.ok && quar.data.items.length ? quar.data.items.map((q) => el("tr", {},
    el("td", { text: q.key }), el("td", { text: q.reason }), el("td", { text: q.attempts }))) : [none()]));
  const rep = reps.ok && reps.data.items[0];
  if (!rep) { fill($("cs-report"), el("p", { text: T.none })); return; }
  const diffs = (rep.report && rep.report.differences) || [];
  fill($("cs-report"), el("p", { text: `${rep.at.replace("T", " ").slice(0, 16)} · ERP ${rep.erp_count} · Jig ${rep.local_count} · ${T.diff} ${rep.differences}` }),
    el("div", { class: "cs-scroll" }, el("table", { class: "cs-table" }, el("thead", {}, el("tr", {},
      el("th", { text: T.key }), el("th", { text: T.diff }), el("th", { text: T.suggestion }))),
    el("tbody", {}, ...diffs.slice(0, 50).map((d) => el("tr", {},
      el("td", { text: d.key }), el("td", { text: d.kind + (d.field ? ` ${d.field}` : "") }), el("td", { text: d.suggestion || "" })))))));
}

/* ---- new connector ---- */

function newSpec(presetName, entity) {
  const ent = entities()[entity] || { fields: {} };
  const key = Object.entries(ent.fields).find(([, f]) => f.unique)?.[0];
  if (presetName === "") {
    return { title: "REST", base_url: "http://127.0.0.1:8080", auth: { type: "none" },
      operations: { orders: { type: "pull", entity, request: { method: "GET", path: "/orders" }, records: "items",
        select: ["id"], key, fields: key ? { [key]: "id" } : {} } } };
  }
  const p = st.presets.find((x) => x.name === presetName);
  const [opName, op] = Object.entries(p.operations).find(([, o]) => o.type === "pull");
  const vars = { ...p.vars };
  const spec = { preset: presetName, title: p.title, base_url: "", vars,
    operations: { [opName]: { entity, key, fields: key && op.select.length ? { [key]: op.select[0] } : {} } } };
  if (op.schedule) spec.operations[opName].schedule = op.schedule;
  return spec;
}

async function loadSecrets() {
  const r = await call("GET", `${C}/_secrets`);
  if (r.ok) st.secrets = r.data;
}

async function start() {
  const p = await call("GET", `${C}/_presets`);
  st.presets = p.ok ? p.data.items : [];
  fill($("cs-new-preset"), ...st.presets.map((x) => el("option", { value: x.name, text: `${x.title} (${x.name})` })),
    el("option", { value: "", text: T.generic }));
  await loadSecrets();
  await load();
  fill($("cs-new-entity"), ...Object.keys(entities()).map((e) => el("option", { value: e, text: e })));
  $("cs-pick").addEventListener("change", (ev) => { st.conn = ev.target.value; st.sample = null; render(); history(); });
  $("cs-new-go").addEventListener("click", async () => {
    const name = $("cs-new-name").value.trim();
    if (!/^[a-z][a-z0-9_]{0,47}$/.test(name)) { status(`${T.name}: a-z 0-9 _`); return; }
    st.conn = name;
    await edit([setAt(["connectors", name], newSpec($("cs-new-preset").value, $("cs-new-entity").value))],
      `new connector ${name}`);
  });
  $("cs-base-url").addEventListener("change", (ev) => edit([setAt(P("base_url"), ev.target.value.trim())]));
  $("cs-op").addEventListener("change", (ev) => { st.op = ev.target.value; st.sample = null; render(); });
  $("cs-schedule").addEventListener("change", (ev) => {
    const v = ev.target.value.trim();
    edit([v ? setAt(P("operations", st.op, "schedule"), v) : { op: "delete", path: P("operations", st.op, "schedule") }]);
  });
  $("cs-test").addEventListener("click", () => tryIt(false));
  $("cs-req-path").addEventListener("change", (ev) => edit([setAt(P("operations", st.op, "request", "path"), ev.target.value.trim() || "/")]));
  $("cs-records").addEventListener("change", (ev) => {
    const v = ev.target.value.trim();
    edit([v ? setAt(P("operations", st.op, "records"), v) : { op: "delete", path: P("operations", st.op, "records") }]);
  });
  $("cs-select").addEventListener("change", (ev) => {
    const names = ev.target.value.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
    if (names.length) edit([setAt(P("operations", st.op, "select"), names)]);
  });
  $("cs-publish").addEventListener("click", publish);
  $("cs-sync").addEventListener("click", syncNow);
  await versions();
  await history();
}

start();
