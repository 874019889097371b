/* The property panel of the selected field: key, labels, flags, limits, options with colours, link target,
 * expressions. Every change is saved at once; the server's check messages are shown at the property. */
import { errorsByField, fieldsOf, labelWith, linkTargets, optionItem, optionOut, pick, splitLabel } from "./model.js";
import { attachExpr } from "./exprpicker.js";

const COLORS = ["", "grey", "blue", "green", "yellow", "orange", "red", "purple", "cyan"];
const NUMERIC = ["integer", "decimal"];
const TEXTUAL = ["text", "longtext", "phone", "email"];

/* Save a text input when it changes or loses focus, once per new value (its text may have been restored
 * into a re-rendered input, which fires no change event of its own). */
function commitOn(input, save) {
  const commit = () => {
    if (input.value === input.defaultValue) return;
    input.defaultValue = input.value;
    save();
  };
  input.addEventListener("change", commit);
  input.addEventListener("blur", commit);
}

/* ``scope`` (optional) is a child table's field: {key, fields, base (path of its fields mapping), errors}. */
export function renderProps(box, ctx, actions, scope) {
  const { S, T, el } = ctx;
  box.replaceChildren();
  const child = !!scope;
  const key = child ? scope.key : S.field;
  const f = key && S.entity ? (child ? scope.fields : fieldsOf(S.data, S.entity))[key] : null;
  if (!f) { box.append(el("p", { class: "d-hint" }, T.no_selection)); return; }
  const base = child ? scope.base : ["entities", S.entity, "fields"];
  const errs = child ? scope.errors : (errorsByField(S.errors).byField[`${S.entity}/${key}`] || []);
  const shown = new Set();

  function errorsFor(prop, holder) {
    errs.filter((e) => e.prop === prop).forEach((e) => {
      shown.add(e);
      holder.append(el("p", { class: "d-prop-error", role: "alert" }, e.message));
      if (e.hint) holder.append(el("p", { class: "d-prop-hint" }, `${T.hint}: ${e.hint}`));
    });
  }

  function row(label, input, prop) {
    const wrap = el("div", { class: "d-prop", "data-prop": prop });
    const lab = el("label", {});
    if (!input.hasAttribute("aria-label")) input.setAttribute("aria-label", label);
    lab.append(el("span", {}, label), input);
    wrap.append(lab);
    errorsFor(prop, wrap);
    box.append(wrap);
    return wrap;
  }

  function textProp(label, prop, kind = "text", value, expr = false) {
    const path = Array.isArray(prop) ? prop : [prop];
    let current = value;
    if (current === undefined) { current = f; path.forEach((p) => { current = current == null ? undefined : current[p]; }); }
    const input = el("input", { type: kind === "number" ? "number" : "text", name: path.join("."),
      step: "any", value: current == null ? "" : String(current) });
    commitOn(input, () => actions.set(key, path, kind, input.value));
    row(label, input, path[0]);
    if (expr) attachExpr(input, ctx, base.concat([key], path));
  }

  function boolProp(label, prop) {
    const input = el("input", { type: "checkbox", name: prop });
    input.checked = f[prop] === true;
    input.addEventListener("change", () => actions.set(key, [prop], "bool", input.checked));
    row(label, input, prop).classList.add("check");
  }

  const keyInput = el("input", { type: "text", name: "key", value: key, pattern: "[a-z][a-z0-9_]{0,47}" });
  commitOn(keyInput, () => {
    const v = keyInput.value.trim();
    if (v !== key && !actions.rename(key, v)) keyInput.setCustomValidity(T.field_key);
  });
  row(T.field_key, keyInput, "key").append(el("small", {}, T.field_key_help));
  const typeSel = el("select", { name: "type" });
  ctx.PALETTE.filter((p) => !child || p.type !== "table").forEach((p) => {
    const o = el("option", { value: p.type }, `${p.label} (${p.type})`);
    if (p.type === f.type) o.selected = true;
    typeSel.append(o);
  });
  typeSel.addEventListener("change", () => actions.set(key, ["type"], "text", typeSel.value));
  row(T.type, typeSel, "type");
  textProp(T.label_zh, ["label", "zh"], "text", pick(f.label, "zh"));
  textProp(T.label_en, ["label", "en"], "text", typeof f.label === "object" && f.label ? f.label.en : (splitLabel(f.label) || [])[1] || "");
  textProp(T.help_zh, ["help", "zh"], "text", pick(f.help, "zh"));
  if (f.type !== "computed") {
    if (typeof f.required === "string") textProp(T.required_when, "required", "boolexpr", undefined, true);
    else boolProp(T.required, "required");
    boolProp(T.unique, "unique");
    boolProp(T.index, "index");
    textProp(T.default, "default", "text", undefined, true);
  }
  if (!child) inListProp();
  if (NUMERIC.indexOf(f.type) >= 0) {
    textProp(T.min, "min", "number");
    textProp(T.max, "max", "number");
    if (f.type === "decimal") textProp(T.scale, "scale", "number");
  }
  if (TEXTUAL.indexOf(f.type) >= 0) {
    textProp(T.max_length, "max_length", "number");
    textProp(T.pattern, "pattern", "text");
  }
  if (f.type === "link") {
    const sel = el("select", { name: "to" });
    linkTargets(S.data, f.to).forEach((k) => {
      const e = S.data.entities[k];
      const o = el("option", { value: k }, `${pick(e && e.title, ctx.LANG) || k} (${k})${e && e.archived ? ` · ${T.archived}` : ""}`);
      if (k === f.to) o.selected = true;
      sel.append(o);
    });
    sel.addEventListener("change", () => actions.set(key, ["to"], "text", sel.value));
    row(T.link_to, sel, "to");
  }
  if (f.type === "select" || f.type === "multiselect") optionsEditor();
  if (f.type === "computed") textProp(T.expr, "expr", "text", undefined, true);
  textProp(T.check, "check", "text", undefined, true);
  textProp(T.check_message, ["check_message", "zh"], "text", pick(f.check_message, "zh"));
  textProp(T.visible, "visible", "text", undefined, true);
  textProp(T.readonly_when, "readonly", "boolexpr", f.readonly === undefined ? "" : String(f.readonly), true);
  const left = errs.filter((e) => !shown.has(e));
  left.forEach((e) => {
    box.append(el("p", { class: "d-prop-error", role: "alert" }, `${e.path}: ${e.message}`));
    if (e.hint) box.append(el("p", { class: "d-prop-hint" }, `${T.hint}: ${e.hint}`));
  });
  const del = el("button", { type: "button", class: "danger", id: "d-delete-field" }, T.delete_field);
  del.addEventListener("click", () => actions.remove(key));
  box.append(del);

  /* "Shown in the list": the field's place in the entity's list columns. */
  function inListProp() {
    const ent = S.data.entities[S.entity] || {};
    const cols = ent.list && Array.isArray(ent.list.columns) ? ent.list.columns : null;
    const input = el("input", { type: "checkbox", name: "in_list" });
    input.checked = !!cols && cols.indexOf(key) >= 0;
    input.addEventListener("change", () => {
      const base = cols || Object.keys(fieldsOf(S.data, S.entity)).slice(0, 6).filter((k) => k !== key);
      const value = input.checked ? base.concat([key]) : base.filter((k) => k !== key);
      const path = cols ? ["entities", S.entity, "list", "columns"] : ["entities", S.entity, "list"];
      actions.setPath(path, cols ? value : { columns: value }, T.in_list);
    });
    row(T.in_list, input, "in_list").classList.add("check");
  }

  function optionsEditor() {
    const wrap = el("div", { class: "d-prop d-options", "data-prop": "options" });
    wrap.append(el("span", {}, T.options));
    if (typeof f.options === "string") {  // a shared list (option_sets): edited in the YAML, where all its fields see it
      wrap.append(el("p", { class: "d-hint" }, T.options_shared.replace("{name}", f.options)));
      box.append(wrap);
      return;
    }
    const opts = (f.options || []).map(optionItem);
    const save = () => actions.set(key, ["options"], "raw", opts.map(optionOut));
    const table = el("table", {});
    opts.forEach((o, i) => {
      const tr = el("tr", {});
      const v = el("input", { value: o.value, "aria-label": T.option_value, size: "8" });
      v.addEventListener("change", () => { o.value = v.value.trim(); save(); });
      const lz = el("input", { value: pick(o.label, "zh"), "aria-label": T.label_zh, size: "8" });
      lz.addEventListener("change", () => { o.label = labelWith(o.label, "zh", lz.value, lz.value); save(); });
      const c = el("select", { "aria-label": T.color });
      COLORS.forEach((name) => { const op = el("option", { value: name }, name || "—"); if (name === (o.color || "")) op.selected = true; c.append(op); });
      c.addEventListener("change", () => { o.color = c.value; save(); });
      const rm = el("button", { type: "button", class: "link", "aria-label": "×" }, "×");
      rm.addEventListener("click", () => { opts.splice(i, 1); save(); });
      [v, lz, c, rm].forEach((x) => { const td = el("td", {}); td.append(x); tr.append(td); });
      table.append(tr);
    });
    wrap.append(table);
    const add = el("button", { type: "button", class: "link" }, T.add_option);
    add.addEventListener("click", () => {
      let n = opts.length + 1;
      while (opts.some((o) => o.value === `option_${n}`)) n += 1;
      opts.push({ value: `option_${n}`, label: `选项${n} | Option ${n}`, compact: true });
      save();
    });
    wrap.append(add);
    errorsFor("options", wrap);
    box.append(wrap);
  }
}
