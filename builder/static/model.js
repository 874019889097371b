/* The designer's model: pure functions over a definition's data (no DOM), so they can be tested in Node.
 * Every change the designer makes is a list of edits for POST /api/builder/apps/<app>/draft/edits:
 * {op: "set"|"delete"|"rename"|"move"|"append", path: [...], value?, after?, to?, index?}. */

export function pick(label, lang) {
  if (label && typeof label === "object") return label[lang] || label.zh || label.en || "";
  if (typeof label !== "string") return "";
  const parts = splitLabel(label);
  return parts ? parts[lang === "en" ? 1 : 0] : label;
}

/* A compact label "厂名 | Name" as [zh, en]; null for one text meant for both languages. */
export function splitLabel(text) {
  const i = typeof text === "string" ? text.indexOf("|") : -1;
  if (i < 0) return null;
  const zh = text.slice(0, i).trim();
  const en = text.slice(i + 1).trim();
  return zh && en ? [zh, en] : null;
}

/* The label ``old`` with its ``lang`` text set to ``text``, in the form it has: a {zh, en} mapping stays one;
 * a plain or missing label becomes the compact "zh | en" (one text when both are the same). */
export function labelWith(old, lang, text, fallback = "") {
  if (old && typeof old === "object") return Object.assign({}, old, { [lang]: text });
  const pair = { zh: pick(old, "zh") || fallback, en: pick(old, "en") || fallback };
  pair[lang] = text;
  return compactLabel(pair.zh, pair.en);
}

export function compactLabel(zh, en) {
  return !en || en === zh ? zh : `${zh} | ${en}`;
}

/* One option in long form {value, label?, color?, compact}: "a", {value: a, ...} or the compact {a: 甲 | A}. */
export function optionItem(o) {
  if (typeof o === "string") return { value: o };
  if (!o || typeof o !== "object") return { value: String(o) };
  if ("value" in o) return Object.assign({}, o);
  const k = Object.keys(o).find((x) => x !== "color");
  if (Array.isArray(o[k])) return { value: k, label: o[k][0], color: o[k][1], compact: true, pair: true };  // a: [甲 | A, blue]
  const out = { value: k, label: o[k], compact: true };
  if (o.color) out.color = o.color;
  return out;
}

/* An option as written back: the compact {value: "zh | en"} (with color) unless it was written long. */
export function optionOut(o) {
  if (o.compact === false || (o.label && typeof o.label === "object" && !o.compact)) {
    const out = { value: o.value };
    if (o.label) out.label = o.label;
    if (o.color) out.color = o.color;
    return out;
  }
  const text = typeof o.label === "object" && o.label ? compactLabel(pick(o.label, "zh"), pick(o.label, "en"))
    : (o.label || o.value);
  if (o.pair && o.color) return { [o.value]: [text, o.color] };  // written as a: [甲 | A, blue], kept so
  const out = { [o.value]: text };
  if (o.color) out.color = o.color;
  return out;
}

export function entityOf(data, ent) {
  return (data && data.entities && data.entities[ent]) || null;
}

export function fieldsOf(data, ent) {
  const e = entityOf(data, ent);
  return (e && e.fields && typeof e.fields === "object") ? e.fields : {};
}

/* The entities a link field may point to: the app's entities that are not archived (the field's current target
 * stays listed, so existing links keep their target while it is archived). */
export function linkTargets(data, current) {
  return Object.entries((data && data.entities) || {})
    .filter(([k, e]) => k === current || !(e && e.archived === true)).map(([k]) => k);
}

/* Archive (true) or restore (false) an entity: a draft edit of ``archived``; the table and data are untouched. */
export function archiveEdits(data, ent, archived) {
  const e = entityOf(data, ent);
  if (!e || (e.archived === true) === archived) return [];
  return archived ? [{ op: "set", path: ["entities", ent, "archived"], value: true, after: "title" }]
    : [{ op: "delete", path: ["entities", ent, "archived"] }];
}

/* A transition's required fields (``keys``, in the entity's field order by the caller): set, or removed when none. */
export function requireEdits(tr, path, keys) {
  if (keys.length) return [{ op: "set", path: path.concat(["require"]), value: keys.slice() }];
  return tr && tr.require !== undefined ? [{ op: "delete", path: path.concat(["require"]) }] : [];
}

/* One row of a transition's ``set`` (field -> expression): ``oldField`` is the row's field before the change (null for a
 * new row); an empty expression or field removes the row, and the mapping when it was its last row. */
export function setRowEdits(tr, path, oldField, field, expr) {
  const now = Object.assign({}, (tr && tr.set && typeof tr.set === "object") ? tr.set : {});
  const before = JSON.stringify(now);
  if (oldField && oldField !== field) delete now[oldField];
  if (field && String(expr || "").trim()) now[field] = String(expr).trim();
  else if (field) delete now[field];
  if (JSON.stringify(now) === before) return [];
  const had = tr && tr.set !== undefined;
  if (!Object.keys(now).length) return had ? [{ op: "delete", path: path.concat(["set"]) }] : [];
  if (!had || (oldField && oldField !== field)) return [{ op: "set", path: path.concat(["set"]), value: now }];
  return field in now ? [{ op: "set", path: path.concat(["set", field]), value: now[field] }]
    : [{ op: "delete", path: path.concat(["set", field]) }];
}

/* Move item ``from`` of the list at ``listPath`` to position ``to`` (tabs, sections): one "move" edit, none if unmoved. */
export function moveEdits(listPath, from, to) {
  return from === to || from < 0 || to < 0 ? [] : [{ op: "move", path: listPath.concat([from]), index: to }];
}

export function fieldLabel(data, ent, key, lang) {
  const f = fieldsOf(data, ent)[key];
  return (f && pick(f.label, lang)) || key;
}

/* The sections of an entity's layout as [{path, label, columns: [[keys]], tabIndex}] (tabs flattened), its tabs
 * as [{label, path, index}] (none when the layout is plain sections), and the fields no section places. Without a layout there are no sections and every field is "unplaced" in its own order. */
export function layoutOf(data, ent) {
  const e = entityOf(data, ent) || {};
  const sections = [];
  const tabs = [];
  const layout = e.layout || {};
  const base = ["entities", ent, "layout"];
  if (Array.isArray(layout.sections)) {
    layout.sections.forEach((s, i) => sections.push({ path: base.concat(["sections", i]), label: s.label, tab: null,
      columns: (s.columns || []).map((c) => (Array.isArray(c) ? c.slice() : [])) }));
  } else if (Array.isArray(layout.tabs)) {
    layout.tabs.forEach((tab, ti) => {
      tabs.push({ label: tab && tab.label, path: base.concat(["tabs", ti]), index: ti });
      ((tab && tab.sections) || []).forEach((s, i) => sections.push({
        path: base.concat(["tabs", ti, "sections", i]), label: s.label, tab: tab.label, tabIndex: ti,
        columns: (s.columns || []).map((c) => (Array.isArray(c) ? c.slice() : [])) }));
    });
  }
  const placed = new Set();
  sections.forEach((s) => s.columns.forEach((c) => c.forEach((k) => placed.add(k))));
  const unplaced = Object.keys(fieldsOf(data, ent)).filter((k) => !placed.has(k));
  return { sections, tabs, unplaced, hasLayout: sections.length > 0 || tabs.length > 0 };
}

function clone(x) { return JSON.parse(JSON.stringify(x)); }

/* Add a tab (names: {first, tab, section} labels {zh, en}). A layout of sections becomes the first tab; without a
 * layout, every field goes into the first tab. The new tab starts with one empty section to drop fields into. */
export function addTabEdits(data, ent, names) {
  const lay = layoutOf(data, ent);
  const fresh = { label: names.tab, sections: [{ label: names.section, columns: [[]] }] };
  const base = ["entities", ent, "layout"];
  if (lay.tabs.length) return [{ op: "append", path: base.concat(["tabs"]), value: fresh }];
  const raw = (entityOf(data, ent) || {}).layout;
  const first = lay.sections.length ? clone(raw.sections)
    : [{ label: names.section, columns: [Object.keys(fieldsOf(data, ent))] }];
  return [{ op: "set", path: base, value: { tabs: [{ label: names.first, sections: first }, fresh] } }];
}

/* Remove tab ``ti``: its fields move to the last column of the neighbouring tab (the one before, else after);
 * the last tab is never removed (a form always has somewhere to put its fields). */
export function removeTabEdits(data, ent, ti) {
  const lay = layoutOf(data, ent);
  if (lay.tabs.length < 2 || !lay.tabs[ti]) return [];
  const moving = [];
  lay.sections.filter((s) => s.tabIndex === ti).forEach((s) => s.columns.forEach((c) => moving.push(...c)));
  const target = ti > 0 ? ti - 1 : 1;
  const edits = [];
  if (moving.length) {
    const into = lay.sections.filter((s) => s.tabIndex === target);
    if (into.length) {
      const last = into[into.length - 1];
      const j = Math.max(0, last.columns.length - 1);
      edits.push({ op: "set", path: last.path.concat(["columns", j]), value: (last.columns[j] || []).concat(moving) });
    } else {
      edits.push({ op: "set", path: lay.tabs[target].path.concat(["sections"]),
        value: [{ label: { zh: "其他", en: "Other" }, columns: [moving] }] });
    }
  }
  edits.push({ op: "delete", path: lay.tabs[ti].path });
  return edits;
}

export function newKey(fields, base) {
  const stem = (base || "field").replace(/[^a-z0-9_]/g, "_").replace(/^[^a-z]+/, "") || "field";
  let n = 1;
  while (fields[`${stem}_${n}`] !== undefined) n += 1;
  return `${stem}_${n}`;
}

export const KEY = /^[a-z][a-z0-9_]{0,47}$/;

/* Edits that make every column of ``after`` (same shape as layoutOf's sections) what it now holds. */
export function layoutEdits(before, after) {
  const edits = [];
  after.forEach((s, i) => {
    s.columns.forEach((col, j) => {
      const old = (before[i] && before[i].columns[j]) || null;
      if (!old || old.join(",") !== col.join(",")) {
        edits.push({ op: "set", path: s.path.concat(["columns", j]), value: col });
      }
    });
  });
  return edits;
}

/* Edits that move field keys in the fields mapping into ``order`` (used when the entity has no layout). */
export function orderEdits(ent, current, order) {
  const edits = [];
  const now = current.slice();
  order.forEach((key, index) => {
    if (now[index] !== key && now.indexOf(key) >= 0) {
      edits.push({ op: "move", path: ["entities", ent, "fields", key], index });
      now.splice(now.indexOf(key), 1);
      now.splice(index, 0, key);
    }
  });
  return edits;
}

/* Rename a field: the key changes in place; a field that is published gets renamed_from (the data is kept);
 * every layout column and list setting naming it follows. */
export function renameEdits(data, published, ent, oldKey, newKeyName) {
  const edits = [{ op: "rename", path: ["entities", ent, "fields", oldKey], to: newKeyName }];
  const pubFields = fieldsOf(published, ent);
  const f = fieldsOf(data, ent)[oldKey] || {};
  const origin = f.renamed_from || (pubFields[oldKey] !== undefined ? oldKey : null);
  if (origin && origin !== newKeyName) {
    edits.push({ op: "set", path: ["entities", ent, "fields", newKeyName, "renamed_from"], value: origin });
  } else if (f.renamed_from && origin === newKeyName) {
    edits.push({ op: "delete", path: ["entities", ent, "fields", newKeyName, "renamed_from"] });
  }
  layoutOf(data, ent).sections.forEach((s) => s.columns.forEach((col, j) => {
    if (col.indexOf(oldKey) >= 0) {
      edits.push({ op: "set", path: s.path.concat(["columns", j]), value: col.map((k) => (k === oldKey ? newKeyName : k)) });
    }
  }));
  const list = (entityOf(data, ent) || {}).list || {};
  ["columns", "search"].forEach((name) => {
    if (Array.isArray(list[name]) && list[name].indexOf(oldKey) >= 0) {
      edits.push({ op: "set", path: ["entities", ent, "list", name], value: list[name].map((k) => (k === oldKey ? newKeyName : k)) });
    }
  });
  fieldLists(data, ent).forEach(([path, keys]) => {
    if (keys.indexOf(oldKey) >= 0) edits.push({ op: "set", path, value: keys.map((k) => (k === oldKey ? newKeyName : k)) });
  });
  return edits;
}

/* Other lists of this entity's field names: what shared links show and edit, what transitions require, the
 * kanban card's fields and the sections of the printed documents of this entity. */
function fieldLists(data, ent) {
  const out = [];
  const card = ((entityOf(data, ent) || {}).list || {}).card;
  if (Array.isArray(card)) out.push([["entities", ent, "list", "card"], card]);
  Object.entries((data && data.documents) || {}).forEach(([name, doc]) => {
    if (!doc || doc.entity !== ent || !Array.isArray(doc.sections)) return;
    doc.sections.forEach((sec, i) => {
      if (sec && Array.isArray(sec.fields)) out.push([["documents", name, "sections", i, "fields"], sec.fields]);
    });
  });
  Object.entries((data && data.links) || {}).forEach(([name, link]) => {
    if (!link || link.entity !== ent) return;
    ["show", "edit"].forEach((k) => { if (Array.isArray(link[k])) out.push([["links", name, k], link[k]]); });
  });
  const transitions = (((entityOf(data, ent) || {}).workflow || {}).transitions) || {};
  Object.entries(transitions).forEach(([name, tr]) => {
    if (tr && Array.isArray(tr.require)) out.push([["entities", ent, "workflow", "transitions", name, "require"], tr.require]);
  });
  return out;
}

/* Removing a field takes it out of the layout and list settings too (its column and data stay in the database). */
export function removeEdits(data, ent, key) {
  const edits = [];
  layoutOf(data, ent).sections.forEach((s) => s.columns.forEach((col, j) => {
    if (col.indexOf(key) >= 0) edits.push({ op: "set", path: s.path.concat(["columns", j]), value: col.filter((k) => k !== key) });
  }));
  const list = (entityOf(data, ent) || {}).list || {};
  ["columns", "search"].forEach((name) => {
    if (Array.isArray(list[name]) && list[name].indexOf(key) >= 0) {
      edits.push({ op: "set", path: ["entities", ent, "list", name], value: list[name].filter((k) => k !== key) });
    }
  });
  fieldLists(data, ent).forEach(([path, keys]) => {
    if (keys.indexOf(key) >= 0) edits.push({ op: "set", path, value: keys.filter((k) => k !== key) });
  });
  edits.push({ op: "delete", path: ["entities", ent, "fields", key] });
  return edits;
}

/* The errors of a check, grouped: by "entity/field" (with the property they concern) and the rest. */
export function errorsByField(errors) {
  const byField = {};
  const other = [];
  (errors || []).forEach((e) => {
    const p = String(e.path || "").split(".");
    if (p[0] === "entities" && p.length >= 4 && p[2] === "fields") {
      const k = `${p[1]}/${p[3]}`;
      (byField[k] = byField[k] || []).push(Object.assign({ prop: p[4] || "" }, e));
    } else {
      other.push(e);
    }
  });
  return { byField, other };
}

/* Undo/redo as texts: every saved change pushes the text it replaced. */
export class History {
  constructor(limit = 100) { this.undo = []; this.redo = []; this.limit = limit; }
  record(previousText) {
    this.undo.push(previousText);
    if (this.undo.length > this.limit) this.undo.shift();
    this.redo = [];
  }
  back(currentText) {
    if (!this.undo.length) return null;
    this.redo.push(currentText);
    return this.undo.pop();
  }
  forward(currentText) {
    if (!this.redo.length) return null;
    this.undo.push(currentText);
    return this.redo.pop();
  }
}

/* Value typed in a property input -> the value stored in the definition (null: remove the key). */
export function parseProp(kind, raw) {
  if (kind === "raw") return raw;
  if (kind === "bool") return raw ? true : null;
  const text = String(raw == null ? "" : raw).trim();
  if (text === "") return null;
  if (kind === "number") {
    const n = Number(text);
    return Number.isFinite(n) ? n : text;
  }
  if (kind === "boolexpr") {
    if (text === "true") return true;
    if (text === "false") return null;
    return text;
  }
  return text;
}

/* ------------------------------------------------------------------ child tables (a table field's own small form) */

export function childFieldsOf(data, ent, table) {
  const f = fieldsOf(data, ent)[table];
  return f && f.type === "table" && f.fields && typeof f.fields === "object" ? f.fields : {};
}

export function childBase(ent, table) {
  return ["entities", ent, "fields", table, "fields"];
}

/* The errors of one child field, each with the property it concerns. */
export function childErrors(errors, ent, table, key) {
  const prefix = `entities.${ent}.fields.${table}.fields.${key}`;
  return (errors || []).filter((e) => String(e.path || "") === prefix || String(e.path || "").startsWith(`${prefix}.`))
    .map((e) => Object.assign({ prop: String(e.path).slice(prefix.length + 1).split(".")[0] || "" }, e));
}

/* Moves that put the child fields in ``order``. */
export function childOrderEdits(ent, table, current, order) {
  return orderEdits(ent, current, order).map((e) => Object.assign({}, e, { path: childBase(ent, table).concat([e.path[3]]) }));
}

/* Renaming or removing a child field (no layout or list refers to it; a published one gets renamed_from). */
export function childRenameEdits(data, published, ent, table, oldKey, newKeyName) {
  const base = childBase(ent, table);
  const edits = [{ op: "rename", path: base.concat([oldKey]), to: newKeyName }];
  const f = childFieldsOf(data, ent, table)[oldKey] || {};
  const origin = f.renamed_from || (childFieldsOf(published, ent, table)[oldKey] !== undefined ? oldKey : null);
  if (origin && origin !== newKeyName) edits.push({ op: "set", path: base.concat([newKeyName, "renamed_from"]), value: origin });
  return edits;
}

const LABEL_PROPS = ["label", "help", "placeholder", "check_message"];

/* The edits that set property ``prop`` (a path inside field ``f``, named ``key``) to ``value`` at ``path``:
 * null deletes it (nothing when it is not there); a zh/en text of a label (label, help, ...) written as one plain
 * or compact text is written back compact, "zh | en", keeping the other language. */
export function propEdits(f, key, path, prop, value) {
  if (value === null) {
    let node = f;
    for (const p of prop) node = node == null ? undefined : node[p];
    if (node === undefined && prop.length === 2 && typeof f[prop[0]] === "string") return [{ op: "delete", path: path.slice(0, -1) }];
    return node === undefined ? [] : [{ op: "delete", path }];
  }
  if (LABEL_PROPS.indexOf(prop[0]) >= 0 && prop.length === 2 && (typeof f[prop[0]] !== "object" || f[prop[0]] === null)) {
    return [{ op: "set", path: path.slice(0, -1), value: labelWith(f[prop[0]], prop[1], value, prop[0] === "label" ? key : value) }];
  }
  return [{ op: "set", path, value }];
}
