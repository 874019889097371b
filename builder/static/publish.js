/* Publishing and versions: the plan (errors at their fields first, then the steps in plain words, the ones that
 * may not convert stored values each to be confirmed), publishing, the history with diffs and rollback. */
import { call, errorText } from "./api.js";
import { fieldLabel, History } from "./model.js";

export function publishing(ctx) {
  const { S, T, LANG, URL, APP, el, render, select, status, load, settled, $ } = ctx;

  async function openPublish() {
    const dlg = $("d-publish-dialog");
    const body = $("d-publish-body");
    body.replaceChildren(el("p", {}, "…"));
    $("d-publish-go").disabled = true;
    if (!dlg.open) dlg.showModal();
    await settled();
    const res = await call("POST", `${URL}/plan`, {});
    body.replaceChildren();
    if (!res.ok) { body.append(el("p", { class: "d-error" }, errorText(res))); return; }
    S.errors = res.data.errors;
    render();
    if (S.errors.length) {
      body.append(el("p", { class: "d-error" }, T.publish_errors.replace("{n}", S.errors.length)));
      const ul = el("ul", { class: "d-publish-errors" });
      S.errors.forEach((e) => {
        const li = el("li", {});
        const p = String(e.path || "").split(".");
        const label = p[0] === "entities" && p[2] === "fields" ? fieldLabel(S.data, p[1], p[3], LANG) : (e.path || "");
        li.append(el("strong", {}, label), el("span", {}, ` ${e.message}`));
        if (e.hint) li.append(el("small", {}, ` ${T.hint}: ${e.hint}`));
        if (p[0] === "entities" && p[2] === "fields") {
          li.classList.add("link");
          li.addEventListener("click", () => { dlg.close(); S.entity = p[1]; select(p[3]); });
        }
        ul.append(li);
      });
      body.append(ul);
      return;
    }
    const lines = res.data.plan || [];
    body.append(el("p", {}, lines.length ? T.plan_intro : T.plan_none));
    const ul = el("ul", { class: "d-plan" });
    const boxes = [];
    lines.forEach((line) => {
      const li = el("li", { class: line.safe ? "safe" : "unsafe" }, line.text);
      if (!line.safe) {
        li.append(el("p", { class: "d-warning" }, line.warning));
        const lab = el("label", {});
        const cb = el("input", { type: "checkbox", class: "d-confirm" });
        cb.addEventListener("change", () => { $("d-publish-go").disabled = boxes.some((b) => !b.checked); });
        boxes.push(cb);
        lab.append(cb, document.createTextNode(` ${T.confirm_step}`));
        li.append(lab);
      }
      ul.append(li);
    });
    body.append(ul);
    $("d-publish-go").disabled = boxes.length > 0;
    $("d-publish-go").dataset.destructive = boxes.length ? "1" : "";
  }

  async function publish() {
    const go = $("d-publish-go");
    go.disabled = true;
    const res = await call("POST", `${URL}/publish`, { message: $("d-publish-message").value, base: S.sha,
      confirm_destructive: go.dataset.destructive === "1" });
    const body = $("d-publish-body");
    if (!res.ok) {
      body.append(el("p", { class: "d-error" }, errorText(res)));
      if (res.data && res.data.error && res.data.error.errors) { S.errors = res.data.error.errors; render(); }
      return;
    }
    body.replaceChildren(el("p", { class: "d-ok", id: "d-published" }, T.published.replace("{n}", res.data.version.number)));
    if (S.entity) {
      const link = el("a", { href: `/a/${encodeURIComponent(APP)}/${encodeURIComponent(S.entity)}/import`, id: "d-import-link" }, T.import_rows);
      body.append(el("p", {}), link);
    }
    S.history = new History();
    await load();
  }

  async function openVersions() {
    const dlg = $("d-versions-dialog");
    const res = await call("GET", `${URL}/versions`);
    const tbody = $("d-versions-list");
    tbody.replaceChildren();
    $("d-diff").hidden = true;
    (res.ok ? res.data.items : []).forEach((v) => {
      const tr = el("tr", { "data-number": String(v.number) });
      [`v${v.number}`, v.status, v.author || "", (v.published_at || v.created_at || "").slice(0, 16), v.message || ""]
        .forEach((x) => tr.append(el("td", {}, x)));
      const td = el("td", {});
      const diff = el("button", { type: "button", class: "link" }, T.diff);
      diff.addEventListener("click", async () => {
        const d = await call("GET", `${URL}/diff?to=${v.number}&from=${v.based_on || Math.max(1, v.number - 1)}`);
        const pre = $("d-diff");
        pre.textContent = d.ok ? d.data.diff : errorText(d);
        pre.hidden = false;
      });
      td.append(diff);
      if (v.status === "archived") {
        const rb = el("button", { type: "button", class: "link" }, T.rollback);
        rb.addEventListener("click", () => rollback(v.number));
        td.append(rb);
      }
      tr.append(td);
      tbody.append(tr);
    });
    if (!dlg.open) dlg.showModal();
  }

  async function rollback(number) {
    if (!window.confirm(T.rollback_confirm.replace("{n}", number))) return;
    let res = await call("POST", `${URL}/rollback`, { number });
    if (res.status === 409 && res.data && res.data.error && res.data.error.steps) {
      if (!window.confirm(errorText(res))) return;
      res = await call("POST", `${URL}/rollback`, { number, confirm_destructive: true });
    }
    status(res.ok ? T.published.replace("{n}", res.data.version.number) : errorText(res), res.ok ? "ok" : "bad");
    await load();
    openVersions();
  }

  return { openPublish, publish, openVersions };
}
