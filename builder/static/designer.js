/* The designer of one app: entities, the form canvas with its palette, the property panel, the YAML view,
 * autosave through the builder API's edits, undo/redo, stale-draft protection, publish and versions.
 * Texts from definitions never become HTML: they are set with textContent. */
import { call, errorText } from "./api.js";
import { addTabEdits, archiveEdits, compactLabel, labelWith, errorsByField, fieldLabel, fieldsOf, History, KEY, layoutEdits, layoutOf, linkTargets, moveEdits, newKey, orderEdits,
  parseProp, pick, propEdits, removeEdits, removeTabEdits, renameEdits } from "./model.js";
import { childProps, renderChildTable } from "./childtable.js";
import { renderWorkflow } from "./workflow.js";
import { renderProps } from "./props.js";
import { renderEntityProps } from "./entity.js";
import { renderPermissions } from "./permissions.js";
import { publishing } from "./publish.js";
import { renderPreview } from "./preview.js";
import { yamlView } from "./yamlview.js";

const root = document.getElementById("designer");
const APP = root.dataset.app;
const T = JSON.parse(document.getElementById("designer-texts").textContent);
const PALETTE = JSON.parse(document.getElementById("designer-palette").textContent);
const LANG = document.documentElement.lang === "en" ? "en" : "zh";
const URL_APP = `/api/builder/apps/${encodeURIComponent(APP)}`;
const $ = (id) => document.getElementById(id);

const S = {
  text: "", data: null, sha: null, published: null, errors: [], plan: [],
  entity: null, field: null, pending: 0, failed: [], history: new History(), sortables: [],
};

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function status(key, kind) {
  const s = $("d-status");
  s.textContent = T[key] || key;
  s.className = `d-status ${kind || ""}`;
}

/* ------------------------------------------------------------------ loading and saving */

async function load() {
  const res = await call("GET", URL_APP);
  if (!res.ok) { status(errorText(res), "bad"); return; }
  const v = res.data.draft || res.data.published;
  S.published = res.data.published ? res.data.published.data : null;
  adopt(v);
  const check = await call("POST", `${URL_APP}/validate`, {});
  if (check.ok) S.errors = check.data.errors;
  render();
  status("saved", "ok");
}

function adopt(v) {
  S.text = v.yaml;
  S.data = v.data || S.data;
  S.sha = v.sha256;
  const ents = Object.keys((S.data && S.data.entities) || {});
  if (!S.entity || ents.indexOf(S.entity) < 0) S.entity = new URLSearchParams(location.search).get("entity") || ents[0] || null;
  if (ents.indexOf(S.entity) < 0) S.entity = ents[0] || null;
}

let chain = Promise.resolve();

/* Queue one change (serially: each is based on the draft the previous one produced). */
function send(kind, body, message) {
  S.pending += 1;
  status("saving");
  const job = { kind, body, message };
  chain = chain.then(() => run(job));
  return chain;
}

async function run(job) {
  if (S.failed.length) { S.failed.push(job); S.pending -= 1; showStale(null); return; }
  const before = S.text;
  const body = Object.assign({}, job.body, { base: S.sha, message: job.message || "", plan: false });
  const res = job.kind === "edits" ? await call("POST", `${URL_APP}/draft/edits`, body)
    : await call("PUT", `${URL_APP}/draft`, body);
  S.pending -= 1;
  if (res.status === 409) {
    S.failed.push(job);
    showStale(errorText(res));
    status("save_failed", "bad");
    return;
  }
  if (!res.ok) {
    status(`${T.save_failed}: ${errorText(res)}`, "bad");
    render();
    return;
  }
  if (job.undoable !== false && res.data.draft.yaml !== before) {
    if (job.kind !== "history") S.history.record(before);
  }
  adopt(res.data.draft);
  S.errors = res.data.errors || [];
  render();
  if (!S.pending) status(S.errors.length ? `${T.saved} · ${T.errors}: ${S.errors.length}` : "saved", S.errors.length ? "warn" : "ok");
}

function edit(edits, message) {
  if (edits.length) send("edits", { edits }, message);
}

function showStale(message) {
  const box = $("d-stale");
  if (message) $("d-stale-msg").textContent = message;
  const list = $("d-stale-list");
  list.replaceChildren(...S.failed.map((j) => el("li", {}, j.message || j.kind)));
  box.hidden = false;
}

async function reapply(keep) {
  const jobs = S.failed;
  S.failed = [];
  $("d-stale").hidden = true;
  await load();
  if (keep) jobs.forEach((j) => send(j.kind, j.body, j.message));
}

/* ------------------------------------------------------------------ rendering */

let YAML = null;

function render() {
  renderEntities();
  renderCanvas();
  renderErrors();
  renderPropsPanel();
  if (!$("d-workflow").hidden) renderWorkflow($("d-workflow"), ctx());
  if (!$("d-perms").hidden) renderPermissions($("d-perms"), ctx());
  if (!$("d-preview").hidden) renderPreview($("d-preview"), { S, T, LANG, APP, el, pick });
  if (!YAML) YAML = yamlView($("d-yaml-text"), () => status("unsaved", "warn"));
  YAML.show(S.text);
  if (S.field && S.field !== S.shownField) {
    S.shownField = S.field;
    const at = S.text.split("\n").findIndex((line) => line.startsWith(`      ${S.field}:`));
    if (at >= 0) YAML.toLine(at, S.text.split("\n").length);
  }
  $("d-undo").disabled = !S.history.undo.length;
  $("d-redo").disabled = !S.history.redo.length;
  const title = S.data && S.data.title;
  $("d-app-title").textContent = pick(title, LANG) || APP;
}

function ctx() {
  return { S, T, LANG, PALETTE, edit, el, render, select, parseProp };
}

function renderEntities() {
  const ul = $("d-entities");
  ul.replaceChildren();
  Object.entries((S.data && S.data.entities) || {}).forEach(([key, ent]) => {
    const li = el("li", {});
    const archived = !!(ent && ent.archived === true);
    const b = el("button", { type: "button", "data-entity": key, "aria-current": key === S.entity ? "true" : "false",
      class: archived ? "d-archived" : "" }, pick(ent && ent.title, LANG) || key);
    if (archived) b.append(el("small", { class: "d-archived-tag" }, ` · ${T.archived}`));
    b.addEventListener("click", () => { S.entity = key; S.field = null; render(); });
    li.append(b);
    ul.append(li);
  });
}

function fieldCard(key) {
  const f = fieldsOf(S.data, S.entity)[key] || {};
  const errs = errorsByField(S.errors).byField[`${S.entity}/${key}`] || [];
  const li = el("li", { class: `d-card${key === S.field ? " selected" : ""}${errs.length ? " invalid" : ""}`,
    "data-key": key, tabindex: "0" });
  li.append(el("span", { class: "d-card-label" }, pick(f.label, LANG) || key));
  li.append(el("span", { class: "d-card-meta" }, `${key} · ${f.type || "?"}${f.required === true ? " · *" : ""}`));
  errs.forEach((e) => li.append(el("span", { class: "d-card-error" }, e.message)));
  li.addEventListener("click", () => select(key));
  li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") select(key); });
  return li;
}

function select(key) {
  S.field = key;
  S.childField = null;
  render();
}

function renderCanvas() {
  S.sortables.forEach((s) => s.destroy());
  S.sortables = [];
  const box = $("d-form");
  box.replaceChildren();
  if (!S.entity) return;
  const lay = layoutOf(S.data, S.entity);
  const blocks = lay.tabs.map((tab) => tabBlock(tab, lay));
  const plain = el("div", { class: "d-sections" });
  lay.sections.forEach((s, i) => {
    const sec = sectionBox(s, i);
    if (s.tabIndex !== undefined && blocks[s.tabIndex]) blocks[s.tabIndex].querySelector(".d-tab-body").append(sec);
    else plain.append(sec);
  });
  if (plain.childNodes.length) box.append(plain);
  const tabs = el("div", { class: "d-tabs" });
  blocks.forEach((b) => tabs.append(b));
  if (blocks.length) box.append(tabs);
  const selected = fieldsOf(S.data, S.entity)[S.field];
  if (selected && selected.type === "table") {
    const child = renderChildTable(ctx());
    const card = box.querySelector(`.d-card[data-key="${S.field}"]`);
    const holder = card && card.closest(".d-section");
    if (holder) holder.after(child); else box.append(child);
  }
  const rest = el("div", { class: "d-unplaced" });
  if (lay.hasLayout) rest.append(el("h3", {}, T.unplaced));
  const ul = el("ul", { class: "d-col", "data-unplaced": "1", "data-empty": T.empty_column });
  lay.unplaced.forEach((k) => ul.append(fieldCard(k)));
  rest.append(ul);
  box.append(rest);
  const tools = el("div", { class: "d-canvas-tools" });
  if (!lay.tabs.length) {
    const addSec = el("button", { type: "button", id: "d-add-section" }, T.add_section);
    addSec.addEventListener("click", addSection);
    tools.append(addSec);
  }
  const addTab = el("button", { type: "button", id: "d-add-tab" }, T.add_tab);
  addTab.addEventListener("click", () => edit(addTabEdits(S.data, S.entity, {
    first: compactLabel(T.first_tab_zh, "Details"), tab: compactLabel(T.new_tab_zh, "New tab"),
    section: compactLabel(T.new_section, "New section") }), T.edit_msg_tab));
  tools.append(addTab);
  box.append(tools);
  if (window.Sortable) {
    /* tabs, and the sections of a tab (or of a plain layout), are reordered by dragging their handle */
    if (lay.tabs.length > 1) {
      S.sortables.push(window.Sortable.create(tabs, { group: "tabs", handle: ".d-tab-handle", draggable: ".d-tab-block",
        animation: 120, forceFallback: true, fallbackTolerance: 3,
        onEnd: (ev) => reorder(lay.tabs[0].path.slice(0, -1), ev, T.edit_msg_tab) }));
    }
    box.querySelectorAll(".d-sections, .d-tab-body").forEach((list) => {
      const mine = lay.sections.filter((x) => (list.classList.contains("d-sections") ? x.tabIndex === undefined
        : String(x.tabIndex) === list.closest(".d-tab-block").dataset.tab));
      if (mine.length < 2) return;
      S.sortables.push(window.Sortable.create(list, { group: `sections-${list.closest("[data-tab]") ? list.closest("[data-tab]").dataset.tab : "plain"}`,
        handle: ".d-section-handle", draggable: ".d-section", animation: 120, forceFallback: true, fallbackTolerance: 3,
        onEnd: (ev) => reorder(mine[0].path.slice(0, -1), ev, T.edit_msg_layout) }));
    });
    box.querySelectorAll(".d-col").forEach((list) => {
      S.sortables.push(window.Sortable.create(list, { group: "fields", animation: 120, forceFallback: true,
        fallbackTolerance: 3, onEnd: dropped, onAdd: dropped }));
    });
  }
}

/* A tab or section dragged to a new place: one "move" of it in its list (undo/redo and the YAML view follow). */
function reorder(listPath, ev, message) {
  const edits = moveEdits(listPath, ev.oldDraggableIndex ?? ev.oldIndex, ev.newDraggableIndex ?? ev.newIndex);
  if (edits.length) edit(edits, message); else render();
}

/* One tab of the layout: its label (zh/en, renamed in place), remove (its fields move to the neighbouring tab),
 * add a section to it; its sections are appended into .d-tab-body. Fields are dragged between tabs' columns. */
function tabBlock(tab, lay) {
  const block = el("div", { class: "d-tab-block", "data-tab": String(tab.index) });
  const head = el("div", { class: "d-tab-head" });
  if (lay.tabs.length > 1) {
    head.append(el("span", { class: "d-tab-handle", title: T.drag_to_reorder, "aria-label": `${T.tab} ${tab.index + 1} ${T.drag_to_reorder}` }, "⠿"));
  }
  ["zh", "en"].forEach((lang) => {
    const inp = el("input", { class: "d-tab-label", value: pick(tab.label, lang),
      "aria-label": `${T.tab} ${tab.index + 1} ${lang === "zh" ? T.label_zh : T.label_en}` });
    inp.addEventListener("change", () => {
      const text = inp.value.trim() || pick(tab.label, lang) || T.new_tab_zh;
      edit([{ op: "set", path: tab.path.concat(["label"]), value: labelWith(tab.label, lang, text, text) }], T.edit_msg_tab);
    });
    head.append(inp);
  });
  const addSec = el("button", { type: "button", class: "link d-tab-add-section" }, T.add_section);
  addSec.addEventListener("click", () => edit([{ op: "append", path: tab.path.concat(["sections"]),
    value: { label: compactLabel(T.new_section, "New section"), columns: [[]] } }], T.edit_msg_layout));
  head.append(addSec);
  if (lay.tabs.length > 1) {
    const del = el("button", { type: "button", class: "link d-tab-remove" }, T.remove_tab);
    del.addEventListener("click", () => edit(removeTabEdits(S.data, S.entity, tab.index), T.edit_msg_tab));
    head.append(del);
  }
  block.append(head, el("div", { class: "d-tab-body" }));
  return block;
}

function sectionBox(s, i) {
  const sec = el("fieldset", { class: "d-section", "data-section": String(i) });
  const legend = el("legend", {});
  legend.append(el("span", { class: "d-section-handle", title: T.drag_to_reorder,
    "aria-label": `${T.section} ${i + 1} ${T.drag_to_reorder}` }, "⠿ "), document.createTextNode(pick(s.label, LANG) || T.section));
  sec.append(legend);
  const cols = el("div", { class: "d-columns" });
  s.columns.forEach((col, j) => {
    const ul = el("ul", { class: "d-col", "data-section": String(i), "data-column": String(j), "data-empty": T.empty_column });
    col.forEach((k) => ul.append(fieldCard(k)));
    cols.append(ul);
  });
  sec.append(cols);
  const tools = el("div", { class: "d-section-tools" });
  if (s.columns.length < 4) {
    const add = el("button", { type: "button", class: "link" }, T.add_column);
    add.addEventListener("click", () => edit([{ op: "append", path: s.path.concat(["columns"]), value: [] }], T.edit_msg_layout));
    tools.append(add);
  }
  const lab = el("input", { "aria-label": `${T.section} ${T.label_zh}`, value: pick(s.label, "zh"), class: "d-section-label" });
  lab.addEventListener("change", () => edit([{ op: "set", path: s.path.concat(["label"]),
    value: labelWith(s.label, "zh", lab.value.trim() || T.new_section, lab.value.trim()) }], T.edit_msg_layout));
  tools.prepend(lab);
  sec.append(tools);
  return sec;
}

function addSection() {
  const lay = layoutOf(S.data, S.entity);
  const section = { label: compactLabel(T.new_section, "New section"), columns: [[]] };
  if (!lay.hasLayout) {
    const first = { label: compactLabel(pick(S.data.entities[S.entity].title, "zh") || T.section, "Details"),
      columns: [Object.keys(fieldsOf(S.data, S.entity))] };
    edit([{ op: "set", path: ["entities", S.entity, "layout"], value: { sections: [first, section] } }], T.edit_msg_layout);
    return;
  }
  const path = lay.sections[lay.sections.length - 1].path.slice(0, -1);
  edit([{ op: "append", path, value: section }], T.edit_msg_layout);
}

let dropping = false;

/* After any drop: read the arrangement off the canvas and save what changed (a palette item is a new field). */
function dropped(ev) {
  if (dropping) return;
  dropping = true;
  setTimeout(() => { dropping = false; }, 0);
  const lay = layoutOf(S.data, S.entity);
  const edits = [];
  let message = T.edit_msg_layout;
  const fields = fieldsOf(S.data, S.entity);
  const item = ev.item;
  if (item && item.dataset.type) {
    const p = PALETTE.find((x) => x.type === item.dataset.type);
    const key = newKey(fields, p.type === "decimal" || p.type === "integer" ? "number" : p.type);
    item.dataset.key = key;
    const value = Object.assign({ type: p.type, label: compactLabel(`${T.new_field} ${p.label}`, `New ${p.type}`) },
      JSON.parse(JSON.stringify(p.start)));
    if (p.type === "link") value.to = linkTargets(S.data).find((k) => k !== S.entity) || S.entity;
    const keys = Object.keys(fields);
    edits.push({ op: "set", path: ["entities", S.entity, "fields", key], value, after: keys[keys.length - 1] });
    message = T.edit_msg_add_field.replace("{label}", pick(value.label, LANG) || key);
    S.field = key;
  }
  const canvas = $("d-form");
  if (lay.hasLayout) {
    const after = lay.sections.map((s, i) => Object.assign({}, s, { columns: s.columns.map((_c, j) => {
      const list = canvas.querySelector(`.d-col[data-section="${i}"][data-column="${j}"]`);
      return Array.from(list.querySelectorAll(".d-card, .d-pal")).map((n) => n.dataset.key).filter(Boolean);
    }) }));
    edits.push(...layoutEdits(lay.sections, after));
  } else {
    const list = canvas.querySelector(".d-col[data-unplaced]");
    const order = Array.from(list.querySelectorAll(".d-card, .d-pal")).map((n) => n.dataset.key).filter(Boolean);
    const current = Object.keys(fields);
    if (item && item.dataset.type) current.push(item.dataset.key);
    edits.push(...orderEdits(S.entity, current, order));
  }
  if (item && item.dataset.type) item.remove();
  if (edits.length) edit(edits, message); else render();
}

function addFromPalette(type) {
  const p = PALETTE.find((x) => x.type === type);
  const fields = fieldsOf(S.data, S.entity);
  const key = newKey(fields, type === "decimal" || type === "integer" ? "number" : type);
  const value = Object.assign({ type, label: compactLabel(`${T.new_field} ${p.label}`, `New ${type}`) }, JSON.parse(JSON.stringify(p.start)));
  if (type === "link") value.to = linkTargets(S.data).find((k) => k !== S.entity) || S.entity;
  const keys = Object.keys(fields);
  const edits = [{ op: "set", path: ["entities", S.entity, "fields", key], value, after: keys[keys.length - 1] }];
  const lay = layoutOf(S.data, S.entity);
  if (lay.hasLayout) {
    const last = lay.sections[lay.sections.length - 1];
    const j = last.columns.length - 1;
    edits.push({ op: "set", path: last.path.concat(["columns", j]), value: last.columns[j].concat([key]) });
  }
  S.field = key;
  edit(edits, T.edit_msg_add_field.replace("{label}", pick(value.label, LANG)));
}

function renderErrors() {
  const { other } = errorsByField(S.errors);
  const ul = $("d-errors");
  ul.replaceChildren(...other.map((e) => el("li", {}, `${e.path || "(top)"}: ${e.message}${e.hint ? ` — ${T.hint}: ${e.hint}` : ""}`)));
  ul.hidden = !other.length;
}

/* Re-rendering the panel keeps what the user is typing: the focused input gets its text and focus back. */
function keepTyping(box, draw) {
  const a = document.activeElement;
  const inside = a && box.contains(a) && a.getAttribute("aria-label");
  const typed = inside && a.tagName === "INPUT" && a.type !== "checkbox" && a.value !== a.defaultValue ? a.value : null;
  const field = S.field;
  draw();
  if (!inside || field !== S.field) return;
  const again = Array.from(box.querySelectorAll("[aria-label]")).find((n) => n.getAttribute("aria-label") === inside);
  if (!again) return;
  if (typed !== null) again.value = typed;
  again.focus();
}

function renderPropsPanel() {
  keepTyping($("d-props-body"), () => drawProps());
}

function drawProps() {
  const box = $("d-props-body");
  if (S.childField && S.field) { childProps(box, ctx()); return; }
  if (!S.field && S.entity) {
    box.replaceChildren();
    renderEntityProps(box, Object.assign(ctx(), { archiveEdits }), (edits, message, renamedTo) => {
      if (renamedTo) S.entity = renamedTo;
      edit(edits, message);
    });
    box.append(Object.assign(document.createElement("p"), { className: "d-hint", textContent: T.no_selection }));
    return;
  }
  renderProps(box, ctx(), {
    rename(oldKey, key) {
      if (!KEY.test(key) || fieldsOf(S.data, S.entity)[key] !== undefined) return false;
      S.field = key;
      edit(renameEdits(S.data, S.published, S.entity, oldKey, key),
        T.edit_msg_rename.replace("{old}", oldKey).replace("{new}", key));
      return true;
    },
    setPath(path, value, what) {
      edit([{ op: "set", path, value }], T.edit_msg_set.replace("{label}", S.entity).replace("{prop}", what));
    },
    remove(key) {
      const label = fieldLabel(S.data, S.entity, key, LANG);
      S.field = null;
      edit(removeEdits(S.data, S.entity, key), T.edit_msg_delete.replace("{label}", label));
    },
    set(key, prop, kind, raw) {
      const value = parseProp(kind, raw);
      const path = ["entities", S.entity, "fields", key].concat(prop);
      const f = fieldsOf(S.data, S.entity)[key] || {};
      const msg = T.edit_msg_set.replace("{label}", pick(f.label, LANG) || key).replace("{prop}", prop.join("."));
      const edits = propEdits(f, key, path, prop, value);
      if (edits.length) edit(edits, msg);
    },
  });
}

/* ------------------------------------------------------------------ wiring */

async function historyStep(back) {
  await chain;
  const target = back ? S.history.back(S.text) : S.history.forward(S.text);
  if (target === null) return;
  send("history", { yaml: target }, T.edit_msg_undo);
}

const P = publishing({ S, T, LANG, URL: URL_APP, APP, el, render, select, status, load, settled: () => chain, $ });

function wire() {
  $("d-undo").addEventListener("click", () => historyStep(true));
  $("d-redo").addEventListener("click", () => historyStep(false));
  document.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey) || ev.target.closest("input, textarea")) return;
    if (ev.key === "z" && !ev.shiftKey) { ev.preventDefault(); historyStep(true); }
    if (ev.key === "y" || (ev.key === "z" && ev.shiftKey)) { ev.preventDefault(); historyStep(false); }
  });
  $("d-yaml-toggle").addEventListener("click", (ev) => {
    const on = ev.target.getAttribute("aria-pressed") !== "true";
    ev.target.setAttribute("aria-pressed", String(on));
    $("d-yaml").hidden = !on;
    if (on && YAML) YAML.refresh();
  });
  $("d-preview-toggle").addEventListener("click", (ev) => {
    const on = ev.target.getAttribute("aria-pressed") !== "true";
    ev.target.setAttribute("aria-pressed", String(on));
    $("d-preview").hidden = !on;
    if (on) renderPreview($("d-preview"), { S, T, LANG, APP, el, pick });
  });
  const ta = $("d-yaml-text");
  if (!YAML) YAML = yamlView(ta, () => status("unsaved", "warn"));
  $("d-yaml-apply").addEventListener("click", () => {
    const text = YAML.text();
    delete ta.dataset.dirty;
    send("put", { yaml: text }, T.edit_msg_yaml);
  });
  $("d-publish").addEventListener("click", P.openPublish);
  $("d-publish-go").addEventListener("click", P.publish);
  $("d-publish-close").addEventListener("click", () => $("d-publish-dialog").close());
  $("d-versions").addEventListener("click", P.openVersions);
  $("d-versions-close").addEventListener("click", () => $("d-versions-dialog").close());
  $("d-stale-reapply").addEventListener("click", () => reapply(true));
  $("d-stale-drop").addEventListener("click", () => reapply(false));
  $("d-tab-form").addEventListener("click", () => tab("form"));
  $("d-tab-workflow").addEventListener("click", () => tab("workflow"));
  $("d-tab-perms").addEventListener("click", () => tab("perms"));
  $("d-new-entity").addEventListener("click", newEntity);
  const pal = $("d-palette");
  pal.querySelectorAll(".d-pal").forEach((item) => {
    item.addEventListener("click", () => addFromPalette(item.dataset.type));
    item.addEventListener("keydown", (ev) => { if (ev.key === "Enter") addFromPalette(item.dataset.type); });
  });
  if (window.Sortable) {
    window.Sortable.create(pal, { group: { name: "fields", pull: "clone", put: false }, sort: false, forceFallback: true,
      fallbackTolerance: 3 });
  }
  window.addEventListener("beforeunload", (ev) => {
    if (S.pending || S.failed.length || ta.dataset.dirty) { ev.preventDefault(); ev.returnValue = T.leave_warning; return T.leave_warning; }
    return undefined;
  });
}

function tab(which) {
  const panes = { form: $("d-form"), workflow: $("d-workflow"), perms: $("d-perms") };
  Object.entries(panes).forEach(([name, pane]) => {
    pane.hidden = name !== which;
    $(`d-tab-${name}`).setAttribute("aria-selected", String(name === which));
  });
  document.querySelector(".d-body").classList.toggle("wf", which !== "form");
  if (which === "workflow") renderWorkflow(panes.workflow, ctx());
  if (which === "perms") renderPermissions(panes.perms, ctx());
}

function newEntity() {
  const key = (window.prompt(T.entity_key) || "").trim();
  if (!key) return;
  if (!KEY.test(key) || (S.data.entities || {})[key]) { status(T.entity_key, "bad"); return; }
  const title = (window.prompt(T.entity_title) || key).trim();
  const keys = Object.keys(S.data.entities || {});
  S.entity = key;
  S.field = null;
  edit([{ op: "set", path: ["entities", key], after: keys[keys.length - 1], value: {
    title: compactLabel(title, key), fields: { name: { type: "text", label: "名称 | Name", required: true } },
  } }], T.edit_msg_entity.replace("{label}", title));
}

wire();
load();
