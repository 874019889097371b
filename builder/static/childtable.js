/* A child table edited as its own small form: when a `table` field is selected, its child fields appear as cards
 * right under it (click to edit one in the property panel, drag to reorder, add from the field types). */
import { childBase, childErrors, childFieldsOf, childOrderEdits, childRenameEdits, compactLabel, KEY, newKey, pick, propEdits }
  from "./model.js";
import { renderProps } from "./props.js";

let sortable = null;

export function renderChildTable(ctx) {
  const { S, T, LANG, PALETTE, el, edit, render } = ctx;
  const table = S.field;
  const fields = childFieldsOf(S.data, S.entity, table);
  const box = el("fieldset", { class: "d-child", "data-table": table });
  const tf = ((S.data.entities[S.entity] || {}).fields || {})[table] || {};
  box.append(el("legend", {}, T.child_fields.replace("{label}", pick(tf.label, LANG) || table)));
  const ul = el("ul", { class: "d-child-col", "data-empty": T.empty_column });
  Object.entries(fields).forEach(([k, f]) => {
    const errs = childErrors(S.errors, S.entity, table, k);
    const li = el("li", { class: `d-card d-child-card${k === S.childField ? " selected" : ""}${errs.length ? " invalid" : ""}`,
      "data-key": k, tabindex: "0" });
    li.append(el("span", { class: "d-card-label" }, pick(f && f.label, LANG) || k),
      el("span", { class: "d-card-meta" }, `${k} · ${(f && f.type) || "?"}`));
    errs.forEach((e) => li.append(el("span", { class: "d-card-error" }, e.message)));
    const pickIt = (ev) => { ev.stopPropagation(); S.childField = k; render(); };
    li.addEventListener("click", pickIt);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") pickIt(ev); });
    ul.append(li);
  });
  box.append(ul);
  const add = el("div", { class: "d-child-add" });
  const sel = el("select", { "aria-label": T.child_type });
  PALETTE.filter((p) => p.type !== "table").forEach((p) => sel.append(el("option", { value: p.type }, p.label)));
  const btn = el("button", { type: "button", id: "d-child-add" }, T.add_child_field);
  btn.addEventListener("click", () => {
    const p = PALETTE.find((x) => x.type === sel.value);
    const key = newKey(fields, p.type === "decimal" || p.type === "integer" ? "number" : p.type);
    const value = Object.assign({ type: p.type, label: compactLabel(`${T.new_field} ${p.label}`, `New ${p.type}`) },
      JSON.parse(JSON.stringify(p.start)));
    if (p.type === "link") value.to = Object.keys(S.data.entities).find((k) => k !== S.entity) || S.entity;
    const keys = Object.keys(fields);
    S.childField = key;
    edit([{ op: "set", path: childBase(S.entity, table).concat([key]), value, after: keys[keys.length - 1] }],
      T.edit_msg_add_field.replace("{label}", pick(value.label, LANG) || key));
  });
  add.append(sel, btn);
  box.append(add);
  if (sortable) { sortable.destroy(); sortable = null; }
  if (window.Sortable) {
    sortable = window.Sortable.create(ul, { group: "child", animation: 120, forceFallback: true, fallbackTolerance: 3,
      onEnd: () => {
        const order = Array.from(ul.querySelectorAll(".d-child-card")).map((n) => n.dataset.key);
        const edits = childOrderEdits(S.entity, table, Object.keys(fields), order);
        if (edits.length) edit(edits, T.edit_msg_layout); else render();
      } });
  }
  return box;
}

/* The property panel of the selected child field (the same panel as for the form's fields). */
export function childProps(box, ctx) {
  const { S, T, LANG, el, edit, parseProp } = ctx;
  const table = S.field;
  const fields = childFieldsOf(S.data, S.entity, table);
  const key = S.childField;
  if (!fields[key]) { S.childField = null; return; }
  const base = childBase(S.entity, table);
  const label = (k) => pick(fields[k] && fields[k].label, LANG) || k;
  renderProps(box, ctx, {
    rename(oldKey, k) {
      if (!KEY.test(k) || fields[k] !== undefined) return false;
      S.childField = k;
      edit(childRenameEdits(S.data, S.published, S.entity, table, oldKey, k),
        T.edit_msg_rename.replace("{old}", oldKey).replace("{new}", k));
      return true;
    },
    setPath(path, value, what) { edit([{ op: "set", path, value }], T.edit_msg_set.replace("{label}", table).replace("{prop}", what)); },
    remove(k) {
      S.childField = null;
      edit([{ op: "delete", path: base.concat([k]) }], T.edit_msg_delete.replace("{label}", label(k)));
    },
    set(k, prop, kind, raw) {
      const value = parseProp(kind, raw);
      const path = base.concat([k], prop);
      const msg = T.edit_msg_set.replace("{label}", label(k)).replace("{prop}", prop.join("."));
      const f = fields[k] || {};
      const edits = propEdits(f, k, path, prop, value);
      if (edits.length) edit(edits, msg);
    },
  }, { key, fields, base, errors: childErrors(S.errors, S.entity, table, key) });
  const back = el("button", { type: "button", class: "link", id: "d-child-back" }, T.child_back);
  back.addEventListener("click", () => { S.childField = null; ctx.render(); });
  box.prepend(el("p", { class: "d-hint" }, T.child_editing.replace("{table}", pick(((S.data.entities[S.entity] || {}).fields || {})[table].label, LANG) || table)), back);
}
