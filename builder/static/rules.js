/* The rule editor of one app: the rules with their state (enable/disable at once), the editor of one rule
 * (rule_form.js), saving it as draft edits of the YAML, test now, publish and versions through the builder API.
 * Texts from definitions never become HTML: they are set with textContent. */
import { call, errorText } from "./api.js";
import { publishing } from "./publish.js";
import { pick } from "./model.js";
import { renderRuleForm, triggerText } from "./rule_form.js";

const root = document.getElementById("rules-editor");
const APP = root.dataset.app;
const T = JSON.parse(document.getElementById("designer-texts").textContent);
const LANG = document.documentElement.lang === "en" ? "en" : "zh";
const URL_APP = `/api/builder/apps/${encodeURIComponent(APP)}`;
const $ = (id) => document.getElementById(id);
const S = { data: null, sha: null, state: [], errors: [], current: null };

export function el(tag, attrs, text) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function status(text, kind) {
  const s = $("d-status");
  s.textContent = T[text] || text;
  s.className = `d-status ${kind || ""}`;
}

const tx = (key, params) => Object.entries(params || {}).reduce((s, [k, v]) => s.split(`{${k}}`).join(String(v)), T[key] || key);
const clone = (x) => (x === undefined ? undefined : JSON.parse(JSON.stringify(x)));

async function load() {
  const [res, st] = await Promise.all([call("GET", URL_APP), call("GET", `${URL_APP}/rules`)]);
  if (!res.ok) { status(errorText(res), "bad"); return; }
  const v = res.data.draft || res.data.published;
  S.data = v.data || {};
  S.sha = v.sha256;
  S.state = st.ok ? st.data.items : [];
  renderList();
  if (S.current && !S.current.isNew) {  // re-rendered after a reload: what the status says stays (e.g. "enabled")
    const s = $("d-status");
    const [text, kind] = [s.textContent, s.className];
    open(S.current.key);
    s.textContent = text;
    s.className = kind;
  }
}

function renderErrors() {
  const ul = $("d-errors");
  ul.replaceChildren();
  (S.errors || []).forEach((e) => ul.append(el("li", {}, `${e.path || ""} ${e.message}${e.hint ? ` (${e.hint})` : ""}`)));
  ul.hidden = !(S.errors || []).length;
}

function warningText(w) {
  const name = w.name && w.user && w.name !== w.user ? `${w.name}（${w.user}）` : w.name || w.user || w.role || w.record || "";
  return tx(`warn_${w.kind}`, { name, expr: w.expr || "" });
}

function renderList() {
  const tbody = $("r-rows");
  tbody.replaceChildren();
  if (!S.state.length) {
    const tr = el("tr", {});
    tr.append(el("td", { colspan: "7" }, T.no_rules));
    tbody.append(tr);
  }
  S.state.forEach((r) => {
    const tr = el("tr", { "data-rule": r.name, class: S.current && S.current.key === r.name ? "selected" : "" });
    const name = el("td", { class: "r-name" });
    const link = el("button", { type: "button", class: "link" }, pick(r.label, LANG) || r.name);
    link.addEventListener("click", () => open(r.name));
    name.append(link, el("code", {}, ` ${r.name}`));
    if (!r.published) name.append(el("small", { class: "r-tag" }, T.not_published_rule));
    else if (r.changed_in_draft) name.append(el("small", { class: "r-tag" }, T.draft_changed));
    (r.warnings || []).forEach((w) => name.append(el("p", { class: "d-warning r-warn" }, `⚠ ${warningText(w)}`)));
    tr.append(name, el("td", {}, triggerText(r, T)));
    const en = el("td", {});
    const toggle = el("button", { type: "button", class: `r-toggle ${r.enabled ? "on" : "off"}`,
      "aria-pressed": r.enabled ? "true" : "false" }, r.enabled ? T.disable : T.enable);
    toggle.disabled = !r.published;
    toggle.addEventListener("click", () => setEnabled(r.name, !r.enabled));
    en.append(el("span", { class: "r-state" }, r.enabled ? "✔ " : "✘ "), toggle);
    tr.append(en, el("td", {}, (r.next_run || "").slice(0, 16)),
      el("td", {}, `${(r.last_run || "").slice(0, 16)}${r.last_status && r.last_status !== "ok" ? ` ${r.last_status}` : ""}`),
      el("td", { class: "num" }, r.firings_today), el("td", { class: `num${r.failures ? " bad" : ""}` }, r.failures));
    tbody.append(tr);
  });
}

async function setEnabled(name, enabled) {
  const res = await call("POST", `${URL_APP}/rules/${encodeURIComponent(name)}/enabled`, { enabled });
  if (!res.ok) { status(errorText(res), "bad"); return; }
  if (res.data.version) status(tx(enabled ? "enabled_now" : "disabled_now", { n: res.data.version.number }), "ok");
  await load();
}

function open(key) {
  const spec = ((S.data.rules || {})[key]);
  if (!spec) return;
  S.current = { key, isNew: false, spec: clone(spec), original: clone(spec), templates: {} };
  showEditor();
}

function newRule(key) {
  if ((S.data.rules || {})[key]) { open(key); return; }
  const ent = Object.keys(S.data.entities || {})[0];
  const spec = { label: { zh: key, en: key }, enabled: false, on: { schedule: "every 1h" }, for_each: ent,
    once: "per_day", do: [{ sms: { to: "", template: "" } }] };
  S.current = { key, isNew: true, spec, original: null, templates: {} };
  showEditor();
}

function showEditor() {
  const box = $("r-edit");
  box.hidden = false;
  renderList();
  renderRuleForm(box, { S, T, LANG, URL_APP, el, tx, status, save, remove, warningText });
}

/* ------------------------------------------------------------------ saving as draft edits */

const ORDER = ["label", "enabled", "on", "for_each", "when", "once", "batch_by", "do"];

function ordered(spec) {
  const out = {};
  ORDER.forEach((k) => { if (spec[k] !== undefined && spec[k] !== null && spec[k] !== "") out[k] = spec[k]; });
  Object.keys(spec).forEach((k) => { if (!(k in out) && spec[k] !== undefined && spec[k] !== null && spec[k] !== "") out[k] = spec[k]; });
  return out;
}

export function ruleEdits(data, cur) {
  const spec = ordered(cur.spec);
  const edits = [];
  const rules = data.rules;
  if (!rules) edits.push({ op: "set", path: ["rules"], value: { [cur.key]: spec } });
  else if (!rules[cur.key]) edits.push({ op: "set", path: ["rules", cur.key], value: spec });
  else {
    const old = rules[cur.key];
    let prev = null;
    Object.keys(spec).forEach((k) => {
      if (JSON.stringify(old[k]) !== JSON.stringify(spec[k])) {
        const e = { op: "set", path: ["rules", cur.key, k], value: spec[k] };
        if (!(k in old) && prev) e.after = prev;
        edits.push(e);
      }
      prev = k;
    });
    Object.keys(old).forEach((k) => { if (!(k in spec)) edits.push({ op: "delete", path: ["rules", cur.key, k] }); });
  }
  const tpls = data.templates;
  Object.entries(cur.templates).forEach(([name, t]) => {
    if (!tpls) edits.push({ op: "set", path: ["templates"], value: { [name]: t }, after: "roles" in data ? "roles" : undefined });
    else if (!tpls[name]) edits.push({ op: "set", path: ["templates", name], value: t });
    else if (tpls[name].text !== t.text) edits.push({ op: "set", path: ["templates", name, "text"], value: t.text });
  });
  return edits;
}

async function save() {
  const cur = S.current;
  const edits = ruleEdits(S.data, cur);
  if (!edits.length) { status("rule_saved", "ok"); return true; }
  status("saving");
  const message = tx(cur.isNew ? "edit_msg_rule_new" : "edit_msg_rule", { name: cur.key });
  const res = await call("POST", `${URL_APP}/draft/edits`, { edits: edits.map((e) => (e.after ? e : { op: e.op, path: e.path, value: e.value })), base: S.sha, message, plan: false });
  if (!res.ok) { status(errorText(res), "bad"); return false; }
  S.errors = res.data.errors || [];
  renderErrors();
  cur.isNew = false;
  cur.templates = {};
  await load();  // re-renders the form, which clears the status line: say how the save went after it
  status(S.errors.length ? tx("publish_errors", { n: S.errors.length }) : "rule_saved", S.errors.length ? "bad" : "ok");
  return true;
}

async function remove() {
  const cur = S.current;
  if (!window.confirm(T.delete_confirm)) return;
  if (!cur.isNew) {
    const res = await call("POST", `${URL_APP}/draft/edits`, { edits: [{ op: "delete", path: ["rules", cur.key] }],
      base: S.sha, message: tx("edit_msg_rule_delete", { name: cur.key }), plan: false });
    if (!res.ok) { status(errorText(res), "bad"); return; }
  }
  S.current = null;
  $("r-edit").hidden = true;
  await load();
}

/* ------------------------------------------------------------------ publish and versions (as in the designer) */

const pub = publishing({ S, T, LANG, URL: URL_APP, APP, el, render: renderErrors, select: () => {}, $,
  status: (text, kind) => status(text, kind), load, settled: async () => {} });
$("d-publish").addEventListener("click", pub.openPublish);
$("d-publish-go").addEventListener("click", pub.publish);
$("d-publish-close").addEventListener("click", () => $("d-publish-dialog").close());
$("d-versions").addEventListener("click", pub.openVersions);
$("d-versions-close").addEventListener("click", () => $("d-versions-dialog").close());
$("r-new").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("r-new-key").value.trim();
  if (/^[a-z][a-z0-9_]{0,47}$/.test(key)) { newRule(key); $("r-new-key").value = ""; }
});
load();
