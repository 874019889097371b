/* The property panel of the entity itself (shown when no field is selected): key (renaming keeps the data and
 * the history), titles, naming series, the title field shown wherever a record is linked. */
import { entityOf, fieldsOf, KEY, pick } from "./model.js";

export function renderEntityProps(box, ctx, save) {
  const { S, T, el } = ctx;
  const ent = entityOf(S.data, S.entity);
  if (!ent) return;
  const base = ["entities", S.entity];
  box.append(el("h3", {}, T.entity_props));

  function row(label, input) {
    input.setAttribute("aria-label", label);
    const wrap = el("div", { class: "d-prop" });
    const lab = el("label", {});
    lab.append(el("span", {}, label), input);
    wrap.append(lab);
    box.append(wrap);
  }

  function commit(input, fn) {
    const go = () => { if (input.value !== input.defaultValue) { input.defaultValue = input.value; fn(input.value.trim()); } };
    input.addEventListener("change", go);
    input.addEventListener("blur", go);
  }

  const key = el("input", { type: "text", value: S.entity, name: "entity-key" });
  commit(key, (v) => {
    if (!KEY.test(v) || (S.data.entities || {})[v]) { key.setCustomValidity(T.entity_key); key.reportValidity(); return; }
    save(renameEntity(S.data, S.published, S.entity, v), T.edit_msg_entity_rename.replace("{old}", S.entity).replace("{new}", v), v);
  });
  row(T.entity_key, key);
  box.append(el("small", { class: "d-hint" }, T.entity_key_help));
  ["zh", "en"].forEach((lang) => {
    const input = el("input", { type: "text", value: pick(ent.title, lang), name: `title-${lang}` });
    commit(input, (v) => {
      const title = { zh: pick(ent.title, "zh") || S.entity, en: pick(ent.title, "en") || S.entity };
      title[lang] = v || title[lang];
      save([{ op: "set", path: base.concat(["title"]), value: title }], T.edit_msg_entity_set);
    });
    row(lang === "zh" ? T.title_zh : T.title_en, input);
  });
  const naming = el("input", { type: "text", value: ent.naming || "", name: "naming", placeholder: "WF{YYYY}{MM}-{####}" });
  commit(naming, (v) => save([v ? { op: "set", path: base.concat(["naming"]), value: v, after: "title" }
    : { op: "delete", path: base.concat(["naming"]) }], T.edit_msg_entity_set));
  row(T.naming, naming);
  const tf = el("select", { name: "title_field" });
  tf.append(el("option", { value: "" }, T.title_field_default));
  Object.entries(fieldsOf(S.data, S.entity)).forEach(([k, f]) => {
    if (!f || ["text", "phone", "email", "select", "integer"].indexOf(f.type) < 0) return;
    const o = el("option", { value: k }, `${pick(f.label, ctx.LANG) || k} (${k})`);
    if (ent.title_field === k) o.selected = true;
    tf.append(o);
  });
  tf.addEventListener("change", () => save([tf.value ? { op: "set", path: base.concat(["title_field"]), value: tf.value, after: "title" }
    : { op: "delete", path: base.concat(["title_field"]) }], T.edit_msg_entity_set));
  row(T.title_field, tf);
  const arch = el("input", { type: "checkbox", name: "archived" });
  arch.checked = ent.archived === true;
  arch.addEventListener("change", () => save(ctx.archiveEdits(S.data, S.entity, arch.checked),
    (arch.checked ? T.edit_msg_archive : T.edit_msg_unarchive).replace("{label}", pick(ent.title, ctx.LANG) || S.entity)));
  row(T.archive_entity, arch);
  box.append(el("small", { class: "d-hint" }, T.archive_help));
}

/* Renaming an entity: the key changes in place, a published one records renamed_from (the table is renamed,
 * data and history kept), and links to it from the app's other entities follow. */
export function renameEntity(data, published, oldKey, newKey) {
  const edits = [{ op: "rename", path: ["entities", oldKey], to: newKey }];
  const ent = entityOf(data, oldKey) || {};
  const origin = ent.renamed_from || (entityOf(published, oldKey) ? oldKey : null);
  if (origin && origin !== newKey) edits.push({ op: "set", path: ["entities", newKey, "renamed_from"], value: origin, after: "title" });
  Object.entries((data && data.entities) || {}).forEach(([name, e]) => {
    const target = name === oldKey ? newKey : name;
    Object.entries((e && e.fields) || {}).forEach(([k, f]) => {
      if (f && f.type === "link" && f.to === oldKey) edits.push({ op: "set", path: ["entities", target, "fields", k, "to"], value: newKey });
    });
  });
  return edits;
}
