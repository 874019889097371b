/* Expressions: a picker (fields, link paths, user attributes, system columns, functions with their signatures) that
 * inserts at the cursor, and instant validation by the server (the message and hint `jig check` gives at that path;
 * nothing is saved until the input is committed). */
import { call } from "./api.js";
import { entityOf, fieldsOf, pick } from "./model.js";

const SYSTEM = ["id", "created_at", "updated_at", "created_by", "updated_by"];

/* The names an expression on ``entity`` may use, grouped: [{group, items: [{insert, label}]}]. */
export function exprNames(data, entity, T, lang) {
  const fields = fieldsOf(data, entity);
  const ent = entityOf(data, entity) || {};
  const own = Object.entries(fields).filter(([, f]) => f && f.type !== "table")
    .map(([k, f]) => ({ insert: k, label: `${pick(f.label, lang) || k} · ${f.type || ""}` }));
  const links = [];
  Object.entries(fields).forEach(([k, f]) => {
    if (!f || f.type !== "link" || !f.to) return;
    Object.entries(fieldsOf(data, f.to)).forEach(([k2, f2]) => {
      if (f2 && f2.type !== "table") links.push({ insert: `${k}.${k2}`, label: `${pick(f.label, lang) || k} → ${pick(f2.label, lang) || k2}` });
    });
  });
  const user = ["username", "display_name"].concat(Object.keys((data && data.user_attributes) || {}))
    .map((a) => ({ insert: `user.${a}`, label: pick(((data && data.user_attributes) || {})[a] && data.user_attributes[a].label, lang) || a }));
  const system = SYSTEM.concat(ent.naming ? ["name"] : [], ent.workflow ? ["state"] : [])
    .map((k) => ({ insert: k, label: k }));
  return [
    { group: T.expr_fields, items: own }, { group: T.expr_links, items: links },
    { group: T.expr_user, items: user }, { group: T.expr_system, items: system },
  ].filter((g) => g.items.length);
}

/* What a function inserts: its name and parentheses (the cursor goes between them). */
export function functionInsert(fn) {
  return `${fn.name}()`;
}

/* ``value`` with ``text`` put in place of [start, end); returns [newValue, cursor]. */
export function insertAt(value, start, end, text) {
  const s = Math.max(0, Math.min(start, value.length));
  const e = Math.max(s, Math.min(end, value.length));
  const before = value.slice(0, s);
  const pad = before && !/[\s(,]$/.test(before) ? " " : "";
  const out = before + pad + text + value.slice(e);
  const cursor = before.length + pad.length + (text.endsWith("()") ? text.length - 1 : text.length);
  return [out, cursor];
}

let FUNCS = null;
function functions() {
  if (!FUNCS) FUNCS = call("GET", "/api/builder/functions").then((r) => (r.ok ? r.data.functions : []));
  return FUNCS;
}

/* Give an expression input a picker button and instant validation. ``path`` is where it lives in the document (or a
 * function giving it, when it depends on other inputs, e.g. the field a transition sets). */
export function attachExpr(input, ctx, path) {
  const { S, T, LANG, el } = ctx;
  const url = `/api/builder/apps/${encodeURIComponent(document.getElementById("designer").dataset.app)}/expression`;
  input.classList.add("d-expr");
  const where = () => (typeof path === "function" ? path() : path);
  input.dataset.path = JSON.stringify(where());
  const msg = el("div", { class: "d-expr-check", "aria-live": "polite" });
  const btn = el("button", { type: "button", class: "d-expr-pick", "aria-label": `${T.expr_pick} ${input.getAttribute("aria-label") || ""}`,
    title: T.expr_pick }, "ƒx");
  let timer = null;
  let seq = 0;
  async function validate() {
    const mine = ++seq;
    const res = await call("POST", url, { path: where(), expr: input.value });
    if (mine !== seq) return;
    msg.replaceChildren();
    if (!res.ok) { msg.append(el("span", { class: "d-prop-error" }, (res.data && res.data.error && res.data.error.message) || "")); return; }
    if (!input.value.trim()) return;
    if (res.data.ok) { msg.append(el("span", { class: "d-expr-ok" }, `✓ ${T.expr_ok}`)); return; }
    res.data.errors.forEach((e) => {
      msg.append(el("p", { class: "d-prop-error", role: "alert" }, e.message));
      if (e.hint) msg.append(el("p", { class: "d-prop-hint" }, `${T.hint}: ${e.hint}`));
    });
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 350); });
  btn.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the cursor where it is
  btn.addEventListener("click", async () => {
    const open = document.querySelector(".d-expr-menu");
    if (open) { const mine = open.dataset.for === input.dataset.path; open.remove(); if (mine) return; }
    const menu = el("div", { class: "d-expr-menu", role: "listbox", "data-for": input.dataset.path, "aria-label": T.expr_pick });
    const add = (text, label, title) => {
      const item = el("button", { type: "button", class: "d-expr-item", role: "option", "data-insert": text, title: title || "" });
      item.append(el("code", {}, text.endsWith("()") && title ? title : text), el("small", {}, ` ${label}`));
      item.addEventListener("mousedown", (ev) => ev.preventDefault());
      item.addEventListener("click", () => {
        const [value, cursor] = insertAt(input.value, input.selectionStart ?? input.value.length,
          input.selectionEnd ?? input.value.length, text);
        input.value = value;
        input.focus();
        input.setSelectionRange(cursor, cursor);
        menu.remove();
        input.dispatchEvent(new Event("input"));
      });
      menu.append(item);
    };
    exprNames(S.data, S.entity, T, LANG).forEach((g) => {
      menu.append(el("div", { class: "d-expr-group" }, g.group));
      g.items.forEach((it) => add(it.insert, it.label));
    });
    menu.append(el("div", { class: "d-expr-group" }, T.expr_functions));
    (await functions()).forEach((fn) => add(functionInsert(fn), fn.doc, fn.signature));
    btn.after(menu);
  });
  const wrap = el("span", { class: "d-expr-wrap" });
  input.replaceWith(wrap);
  wrap.append(input, btn);
  wrap.after(msg);
  return wrap;
}
