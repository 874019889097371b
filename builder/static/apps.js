/* The app list: creating an app (its first draft) and opening the designer. */
import { call, errorText } from "./api.js";

const form = document.getElementById("new-app");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const app = form.elements.app.value.trim();
  const title = form.elements.title.value.trim() || app;
  const yaml = `app: ${app}\ntitle: {zh: ${JSON.stringify(title)}, en: ${JSON.stringify(app)}}\nentities:\n  item:\n` +
    `    title: {zh: 记录, en: Record}\n    fields:\n      name: {type: text, label: {zh: 名称, en: Name}, required: true}\n`;
  const res = await call("POST", "/api/builder/apps", { app, yaml, message: title });
  const box = document.getElementById("new-app-error");
  if (!res.ok) {
    box.textContent = errorText(res);
    box.hidden = false;
    return;
  }
  window.location.href = `/builder/${encodeURIComponent(app)}`;
});

/* A new app from a spreadsheet: upload, see the suggested fields, adjust, create the draft. */
const TX = JSON.parse(document.getElementById("designer-texts").textContent);
const TYPES = ["text", "longtext", "integer", "decimal", "boolean", "date", "datetime", "select"];
const sheet = document.getElementById("sheet-app");
let inferred = [];

function cell(node) { const td = document.createElement("td"); td.append(node); return td; }

function input(value, label) {
  const i = document.createElement("input");
  i.value = value;
  i.setAttribute("aria-label", label);
  return i;
}

sheet.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = document.getElementById("sheet-error");
  box.hidden = true;
  const body = new FormData();
  body.append("file", sheet.elements.file.files[0]);
  const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  const lang = document.documentElement.lang === "en" ? "en" : "zh";
  const res = await fetch(`/api/builder/sheets/infer?lang=${lang}`, { method: "POST", body, credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf, Accept: "application/json" } });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = data && data.error;
    box.textContent = err ? Object.values(err.fields || {})[0] || err.message : `HTTP ${res.status}`;
    box.hidden = false;
    return;
  }
  inferred = data.fields;
  document.getElementById("sheet-count").textContent = TX.sheet_rows.replace("{n}", data.rows);
  const tbody = document.getElementById("sheet-rows");
  tbody.replaceChildren();
  inferred.forEach((f, i) => {
    const tr = document.createElement("tr");
    tr.dataset.column = String(i);
    const col = document.createElement("span");
    col.textContent = data.header[f.column] || "";
    const label = input(f.label, `${TX.label_zh} ${i + 1}`);
    label.addEventListener("change", () => { f.label = label.value; });
    const key = input(f.key, `${TX.field_key} ${i + 1}`);
    key.addEventListener("change", () => { f.key = key.value.trim(); });
    const type = document.createElement("select");
    type.setAttribute("aria-label", `${TX.type} ${i + 1}`);
    TYPES.forEach((t) => { const o = document.createElement("option"); o.value = t; o.textContent = t; o.selected = t === f.type; type.append(o); });
    type.addEventListener("change", () => { f.type = type.value; });
    const req = document.createElement("input");
    req.type = "checkbox";
    req.checked = f.required;
    req.setAttribute("aria-label", `${TX.required} ${i + 1}`);
    req.addEventListener("change", () => { f.required = req.checked; });
    const opts = input(f.options.join(", "), `${TX.options} ${i + 1}`);
    opts.addEventListener("change", () => { f.options = opts.value.split(/[,，]/).map((s) => s.trim()).filter(Boolean); });
    [col, label, key, type, req, opts].forEach((n) => tr.append(cell(n)));
    tbody.append(tr);
  });
  document.getElementById("sheet-fields").hidden = false;
});

document.getElementById("sheet-create").addEventListener("click", async () => {
  const app = sheet.elements.app.value.trim();
  const res = await call("POST", "/api/builder/sheets/app", { app, title: sheet.elements.title.value.trim(),
    entity: sheet.elements.entity.value.trim(), entity_title: sheet.elements.entity_title.value.trim(), fields: inferred });
  const box = document.getElementById("sheet-error");
  if (!res.ok) {
    const err = res.data && res.data.error;
    box.textContent = err ? `${err.message} ${Object.values(err.fields || {}).join(" ")}` : errorText(res);
    box.hidden = false;
    return;
  }
  window.location.href = `/builder/${encodeURIComponent(app)}`;
});
