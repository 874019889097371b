/* The workflow editor: states and transitions as tables, and the state machine drawn as SVG. */
import { compactLabel, entityOf, fieldsOf, KEY, labelWith, pick, requireEdits, setRowEdits } from "./model.js";
import { attachExpr } from "./exprpicker.js";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = { grey: "#8a8f98", blue: "#2f6fde", green: "#2e9d50", yellow: "#d6a800", orange: "#e07b00",
  red: "#d33", purple: "#8a4fd3", cyan: "#129fb0" };

export function renderWorkflow(box, ctx) {
  const { S, T, el, edit, LANG } = ctx;
  const typed = typedValues(box);  // a re-render (e.g. an autosave finishing) must not wipe what is being typed
  box.replaceChildren();
  const ent = entityOf(S.data, S.entity);
  if (!ent) return;
  const base = ["entities", S.entity, "workflow"];
  const wf = ent.workflow;
  if (!wf || typeof wf !== "object") {
    box.append(el("p", {}, T.no_workflow));
    const add = el("button", { type: "button" }, T.add_workflow);
    add.addEventListener("click", () => edit([{ op: "set", path: base, value: {
      initial: "draft", states: { draft: { label: "草稿 | Draft" }, done: { label: "完成 | Done", final: true } },
      transitions: { finish: { from: "draft", to: "done" } } } }], T.edit_msg_workflow));
    box.append(add);
    return;
  }
  const states = wf.states || {};
  const transitions = wf.transitions || {};
  box.append(diagram(states, transitions, wf.initial, LANG));

  box.append(el("h3", {}, T.states));
  const st = el("table", { class: "d-wf-states" });
  st.append(headRow(el, [T.state_key, T.label_zh, T.color, T.final]));
  Object.entries(states).forEach(([k, s]) => {
    const tr = el("tr", { "data-state": k });
    tr.append(el("td", {}, k));
    const lab = el("input", { value: pick(s && s.label, "zh"), "aria-label": `${k} ${T.label_zh}` });
    lab.addEventListener("change", () => edit([{ op: "set", path: base.concat(["states", k, "label"]),
      value: labelWith(s && s.label, "zh", lab.value, k) }], T.edit_msg_workflow));
    const col = el("select", { "aria-label": `${k} ${T.color}` });
    ["", ...Object.keys(COLORS)].forEach((c) => { const o = el("option", { value: c }, c || "—"); if (c === ((s && s.color) || "")) o.selected = true; col.append(o); });
    col.addEventListener("change", () => edit([col.value ? { op: "set", path: base.concat(["states", k, "color"]), value: col.value }
      : { op: "delete", path: base.concat(["states", k, "color"]) }], T.edit_msg_workflow));
    const fin = el("input", { type: "checkbox", "aria-label": `${k} ${T.final}` });
    fin.checked = !!(s && s.final);
    fin.addEventListener("change", () => edit([fin.checked ? { op: "set", path: base.concat(["states", k, "final"]), value: true }
      : { op: "delete", path: base.concat(["states", k, "final"]) }], T.edit_msg_workflow));
    [lab, col, fin].forEach((x) => { const td = el("td", {}); td.append(x); tr.append(td); });
    st.append(tr);
  });
  box.append(st);
  const addState = el("form", { class: "d-wf-add", id: "d-add-state" });
  const sk = el("input", { name: "key", placeholder: T.state_key, "aria-label": T.state_key, required: "" });
  const sl = el("input", { name: "label", placeholder: T.label_zh, "aria-label": `${T.add_state} ${T.label_zh}` });
  addState.append(sk, sl, el("button", { type: "submit" }, T.add_state));
  addState.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = sk.value.trim();
    if (!KEY.test(key) || states[key]) { sk.setCustomValidity(T.state_key); sk.reportValidity(); return; }
    const keys = Object.keys(states);
    const label = sl.value.trim() || key;
    sk.value = sl.value = "";
    edit([{ op: "set", path: base.concat(["states", key]), after: keys[keys.length - 1],
      value: { label: compactLabel(label, key) } }], T.edit_msg_workflow);
  });
  box.append(addState);
  restore(addState, typed);

  box.append(el("h3", {}, T.transitions));
  const tt = el("table", { class: "d-wf-transitions" });
  tt.append(headRow(el, [T.transition_key, T.label_zh, T.from, T.to, T.roles, T.guard, T.tr_require, T.tr_set]));
  Object.entries(transitions).forEach(([k, t]) => {
    const tr = el("tr", { "data-wf-transition": k });  // not data-transition: the web UI's script takes those as buttons
    const from = Array.isArray(t.from) ? t.from.join(", ") : (t.from || "");
    [k, pick(t.label, LANG), from, t.to || "", (t.roles || []).join(", ")].forEach((x) => tr.append(el("td", {}, x)));
    const td = el("td", {});
    const guard = el("input", { value: t.guard || "", class: "d-wf-guard", "aria-label": `${k} ${T.guard}` });
    guard.addEventListener("change", () => {
      const v = guard.value.trim();
      const path = base.concat(["transitions", k, "guard"]);
      if (v) edit([{ op: "set", path, value: v }], T.edit_msg_workflow);
      else if (t.guard !== undefined) edit([{ op: "delete", path }], T.edit_msg_workflow);
    });
    td.append(guard);
    tr.append(td);
    attachExpr(guard, ctx, base.concat(["transitions", k, "guard"]));
    const tpath = base.concat(["transitions", k]);
    const rq = el("td", {});
    rq.append(requireCell(ctx, k, t, tpath));
    const st2 = el("td", {});
    st2.append(setCell(ctx, k, t, tpath));
    tr.append(rq, st2);
    tt.append(tr);
  });
  box.append(tt);
  const addT = el("form", { class: "d-wf-add", id: "d-add-transition" });
  const tk = el("input", { name: "key", placeholder: T.transition_key, "aria-label": T.transition_key, required: "" });
  const tl = el("input", { name: "label", placeholder: T.label_zh, "aria-label": `${T.add_transition} ${T.label_zh}` });
  const tf = stateSelect(el, states, T.from);
  const tto = stateSelect(el, states, T.to);
  const troles = el("input", { name: "roles", placeholder: T.roles, "aria-label": T.roles });
  addT.append(tk, tl, tf, tto, troles, el("button", { type: "submit" }, T.add_transition));
  addT.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = tk.value.trim();
    if (!KEY.test(key) || transitions[key]) { tk.setCustomValidity(T.transition_key); tk.reportValidity(); return; }
    const value = { from: tf.value, to: tto.value };
    if (tl.value.trim()) value.label = compactLabel(tl.value.trim(), key);
    const roles = troles.value.split(/[,，\s]+/).filter(Boolean);
    if (roles.length) value.roles = roles;
    const keys = Object.keys(transitions);
    tk.value = tl.value = troles.value = "";
    edit([{ op: "set", path: base.concat(["transitions", key]), after: keys[keys.length - 1], value }], T.edit_msg_workflow);
  });
  box.append(addT);
  restore(addT, typed);
}

const OPEN = new Set();  // the transitions whose required-fields list is open (kept open across re-renders)

/* Required fields of a transition: a list of the entity's fields to tick (shown folded as their labels). */
function requireCell(ctx, k, t, tpath) {
  const { S, T, el, edit, LANG } = ctx;
  const fields = Object.entries(fieldsOf(S.data, S.entity)).filter(([, f]) => f && f.type !== "computed" && f.type !== "table");
  const now = Array.isArray(t.require) ? t.require : [];
  const box = el("details", { class: "d-wf-require", "data-wf-transition": k });
  if (OPEN.has(k)) box.open = true;
  box.addEventListener("toggle", () => { if (box.open) OPEN.add(k); else OPEN.delete(k); });
  const names = now.map((f) => pick((fieldsOf(S.data, S.entity)[f] || {}).label, LANG) || f);
  box.append(el("summary", { "aria-label": `${k} ${T.tr_require}` }, names.length ? names.join("、") : "—"));
  fields.forEach(([fk, f]) => {
    const lab = el("label", {});
    const cb = el("input", { type: "checkbox", value: fk, "aria-label": `${k} ${T.tr_require} ${pick(f.label, LANG) || fk}` });
    cb.checked = now.indexOf(fk) >= 0;
    cb.addEventListener("change", () => {
      const keys = fields.map(([x]) => x).filter((x) => (x === fk ? cb.checked : now.indexOf(x) >= 0));
      edit(requireEdits(t, tpath, keys), T.edit_msg_workflow);
    });
    lab.append(cb, document.createTextNode(` ${pick(f.label, LANG) || fk}`));
    box.append(lab);
  });
  return box;
}

/* Fields a transition sets: rows of field + expression (the picker and the server's instant check), and a new row. */
function setCell(ctx, k, t, tpath) {
  const { S, T, el, edit, LANG } = ctx;
  const fields = Object.entries(fieldsOf(S.data, S.entity)).filter(([, f]) => f && f.type !== "computed" && f.type !== "table");
  const rows = Object.entries((t.set && typeof t.set === "object") ? t.set : {}).concat([[null, ""]]);
  const wrap = el("div", { class: "d-wf-set", "data-wf-transition": k });
  rows.forEach(([fk, expr], i) => {
    const row = el("div", { class: "d-wf-set-row" });
    const sel = el("select", { "aria-label": `${k} ${T.tr_set} ${i + 1} ${T.field}` });
    sel.append(el("option", { value: "" }, "—"));
    fields.forEach(([x, f]) => {
      const o = el("option", { value: x }, pick(f.label, LANG) || x);
      if (x === fk) o.selected = true;
      sel.append(o);
    });
    const inp = el("input", { value: expr || "", class: "d-wf-set-expr", placeholder: "now()",
      "aria-label": `${k} ${T.tr_set} ${i + 1} ${T.expression}` });
    const commit = () => {
      const edits = setRowEdits(t, tpath, fk, sel.value || null, sel.value ? inp.value : "");
      if (edits.length) edit(edits, T.edit_msg_workflow);
    };
    sel.addEventListener("change", () => { if (fk || inp.value.trim()) commit(); });
    inp.addEventListener("change", commit);
    row.append(sel, inp);
    wrap.append(row);
    attachExpr(inp, ctx, () => tpath.concat(["set", sel.value || fk || (fields[0] && fields[0][0]) || "x"]));
  });
  return wrap;
}

/* What the user has typed into the "add" forms, by form id and input name. */
function typedValues(box) {
  const out = {};
  box.querySelectorAll("form.d-wf-add").forEach((form) => {
    out[form.id] = {};
    form.querySelectorAll("input[name], select[name]").forEach((i) => { out[form.id][i.name] = i.value; });
  });
  return out;
}

function restore(form, typed) {
  const values = typed[form.id] || {};
  form.querySelectorAll("input[name], select[name]").forEach((i) => {
    if (values[i.name]) i.value = values[i.name];
  });
}

function headRow(el, names) {
  const tr = el("tr", {});
  names.forEach((n) => tr.append(el("th", {}, n)));
  return tr;
}

function stateSelect(el, states, label) {
  const s = el("select", { "aria-label": label });
  Object.keys(states).forEach((k) => s.append(el("option", { value: k }, k)));
  return s;
}

/* States in a row (in definition order), transitions as arrows above (forward) or below (backward). */
function diagram(states, transitions, initial, lang) {
  const keys = Object.keys(states);
  const w = 130;
  const gap = 40;
  const width = Math.max(300, keys.length * (w + gap) + gap);
  const height = 220;
  const y = 90;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "d-wf-diagram");
  svg.setAttribute("role", "img");
  const defs = document.createElementNS(SVG, "defs");
  defs.innerHTML = '<marker id="d-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>';
  svg.append(defs);
  const x = (k) => gap + keys.indexOf(k) * (w + gap) + w / 2;
  let lane = 0;
  Object.entries(transitions).forEach(([name, t]) => {
    const froms = Array.isArray(t.from) ? t.from : [t.from];
    froms.forEach((f) => {
      if (keys.indexOf(f) < 0 || keys.indexOf(t.to) < 0) return;
      const x1 = x(f);
      const x2 = x(t.to);
      const forward = x2 >= x1;
      lane = (lane % 3) + 1;
      const dy = (forward ? -1 : 1) * (22 + lane * 14);
      const yy = forward ? y - 20 : y + 20;
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", `M${x1},${yy} C${x1},${yy + dy} ${x2},${yy + dy} ${x2},${yy}`);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", "#555");
      path.setAttribute("marker-end", "url(#d-arrow)");
      svg.append(path);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String((x1 + x2) / 2));
      label.setAttribute("y", String(yy + dy * 0.8 + (forward ? -2 : 10)));
      label.setAttribute("text-anchor", "middle");
      label.setAttribute("font-size", "11");
      label.textContent = pick(t.label, lang) || name;
      svg.append(label);
    });
  });
  keys.forEach((k) => {
    const s = states[k] || {};
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("data-state", k);
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", String(x(k) - w / 2));
    r.setAttribute("y", String(y - 20));
    r.setAttribute("width", String(w));
    r.setAttribute("height", "40");
    r.setAttribute("rx", "8");
    r.setAttribute("fill", COLORS[s.color] || "#8a8f98");
    r.setAttribute("stroke", k === initial ? "#111" : "none");
    r.setAttribute("stroke-width", s.final ? "4" : "2");
    const tx = document.createElementNS(SVG, "text");
    tx.setAttribute("x", String(x(k)));
    tx.setAttribute("y", String(y + 5));
    tx.setAttribute("text-anchor", "middle");
    tx.setAttribute("fill", "#fff");
    tx.setAttribute("font-size", "13");
    tx.textContent = pick(s.label, lang) || k;
    g.append(r, tx);
    svg.append(g);
  });
  return svg;
}
