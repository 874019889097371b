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
