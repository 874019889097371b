/* Permissions per role as a grid: create/read/update/delete/transition, each allowed, not, or allowed for the rows
 * a filter expression selects (e.g. "partner == user.partner"). */
import { entityOf } from "./model.js";
import { attachExpr } from "./exprpicker.js";

const ACTIONS = ["read", "create", "update", "delete", "transition"];

export function rolesOf(data, ent) {
  const declared = data && data.roles;
  const names = Array.isArray(declared) ? declared.slice() : Object.keys(declared || {});
  Object.keys(Object.assign({}, data && data.permissions, (entityOf(data, ent) || {}).permissions))
    .forEach((r) => { if (names.indexOf(r) < 0) names.push(r); });
  return names;
}

/* A role's grant as the long mapping {read: true, ...}: the compact forms are "all", one action, a list of actions
 * or the name of an app-level role preset (runtime/compact.py expands them the same way at load). */
export function grantOf(data, grant, depth = 0) {
  if (grant === "none") return {};
  if (Array.isArray(grant)) return Object.fromEntries(grant.filter((a) => ACTIONS.indexOf(a) >= 0).map((a) => [a, true]));
  if (typeof grant !== "string") return grant && typeof grant === "object" ? grant : {};
  if (grant === "all") return Object.fromEntries(ACTIONS.map((a) => [a, true]));
  if (ACTIONS.indexOf(grant) >= 0) return { [grant]: true };
  const presets = (data && data.role_presets) || {};
  return depth === 0 && presets[grant] !== undefined ? grantOf(data, presets[grant], 1) : {};
}

/* A long grant written compactly when every action in it is plainly allowed: all, or [read, create, ...]. */
export function compactGrant(grant) {
  const keys = Object.keys(grant);
  if (!keys.length || keys.some((k) => grant[k] !== true)) return grant;
  return keys.length === ACTIONS.length ? "all" : ACTIONS.filter((a) => grant[a] === true);
}

/* The edit that gives ``role`` the grant ``value`` (true, an expression, or null: not allowed) for ``action``. */
export function grantEdit(data, ent, role, action, value) {
  const perms = (entityOf(data, ent) || {}).permissions;
  const base = ["entities", ent, "permissions"];
  const inherited = !(perms && role in perms) && data && data.permissions && data.permissions[role] !== undefined;
  const written = inherited ? data.permissions[role] : perms && perms[role];
  if (written !== undefined && written !== null && (typeof written !== "object" || Array.isArray(written) || inherited)) {
    const grant = Object.assign({}, grantOf(data, written));  // a compact or app-wide grant is written whole, here
    if (value === null) delete grant[action];
    else grant[action] = value;
    const whole = Object.keys(grant).length ? compactGrant(grant) : (inherited ? "none" : null);
    if (whole === null) return { op: "delete", path: base.concat([role]) };
    return perms ? { op: "set", path: base.concat([role]), value: whole } : { op: "set", path: base, value: { [role]: whole } };
  }
  if (value === null) {
    if (perms && perms[role] && perms[role][action] !== undefined) {
      const left = Object.keys(perms[role]).filter((a) => a !== action);
      return left.length ? { op: "delete", path: base.concat([role, action]) } : { op: "delete", path: base.concat([role]) };
    }
    return null;
  }
  if (!perms) return { op: "set", path: base, value: { [role]: { [action]: value } } };
  if (!perms[role]) return { op: "set", path: base.concat([role]), value: { [action]: value } };
  return { op: "set", path: base.concat([role, action]), value };
}

export function renderPermissions(box, ctx) {
  const { S, T, el, edit } = ctx;
  box.replaceChildren();
  const ent = entityOf(S.data, S.entity);
  if (!ent) return;
  const perms = ent.permissions || {};
  box.append(el("p", { class: "d-hint" }, T.perm_help));
  const table = el("table", { class: "d-perms" });
  const head = el("tr", {});
  head.append(el("th", {}, T.roles));
  ACTIONS.forEach((a) => head.append(el("th", {}, T[`perm_${a}`])));
  table.append(head);
  rolesOf(S.data, S.entity).forEach((role) => {
    const tr = el("tr", { "data-role": role });
    tr.append(el("th", {}, role));
    ACTIONS.forEach((action) => {
      const td = el("td", { "data-action": action });
      const grant = grantOf(S.data, role in perms ? perms[role] : (S.data.permissions || {})[role])[action];
      const cb = el("input", { type: "checkbox", "aria-label": `${role} ${T[`perm_${action}`]}` });
      cb.checked = grant !== undefined && grant !== false;
      td.append(cb);
      let expr = null;
      if (action !== "create") {
        expr = el("input", { type: "text", class: "d-perm-expr", placeholder: T.perm_filter,
          "aria-label": `${role} ${T[`perm_${action}`]} ${T.perm_filter}`,
          value: typeof grant === "string" ? grant : Array.isArray(grant) ? grant.join(", ") : "" });
        td.append(expr);
      }
      const save = () => {
        let value = null;
        if (cb.checked) {
          const text = expr ? expr.value.trim() : "";
          value = text ? (action === "transition" && /^[a-z_][a-z0-9_]*(\s*,\s*[a-z_][a-z0-9_]*)*$/.test(text) && !/\s(and|or|in)\s/.test(text)
            ? text.split(/\s*,\s*/) : text) : true;
        }
        const e = grantEdit(S.data, S.entity, role, action, value);
        if (e) edit([e], T.edit_msg_perm.replace("{role}", role));
      };
      cb.addEventListener("change", save);
      if (expr) expr.addEventListener("change", () => { if (expr.value.trim()) cb.checked = true; save(); });
      tr.append(td);
      if (expr && action !== "transition") attachExpr(expr, ctx, ["entities", S.entity, "permissions", role, action]);
    });
    table.append(tr);
  });
  box.append(table);
}
