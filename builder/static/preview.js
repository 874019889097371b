/* The preview: the draft's form as the web UI renders it (the same templates), at desktop and phone width side by
 * side, and the mobile link forms of the entity's shared links. The frames are sandboxed (no scripts, no forms):
 * nothing can be submitted from a preview. They reload after each autosave (the draft's sha changes), never the
 * designer page itself. */

/* The shared links whose form shows this entity's fields or that are issued on its records (as the server lists them). */
export function linksOf(data, entity) {
  return Object.entries((data && data.links) || {})
    .filter(([, lk]) => lk && typeof lk === "object" && (lk.entity === entity || (lk.on || lk.entity) === entity))
    .map(([name, lk]) => ({ name, label: lk.label }));
}

/* The frames wanted for an entity: [{id, url, width, title}]; the url changes with the draft (sha) so frames reload. */
export function previewFrames(app, entity, sha, links, T, pick, lang, record) {
  if (!entity) return [];
  const base = `/builder/${encodeURIComponent(app)}/preview/${encodeURIComponent(entity)}`;
  const q = `?lang=${lang}&v=${encodeURIComponent(String(sha || "").slice(0, 12))}`;
  const form = record ? `${base}${q}&record=${encodeURIComponent(String(record))}` : base + q;
  const frames = [
    { id: "d-preview-desktop", url: form, width: 1024, title: T.preview_desktop },
    { id: "d-preview-phone", url: form, width: 375, title: T.preview_phone },
  ];
  links.forEach((lk) => frames.push({ id: `d-preview-link-${lk.name}`, url: `${base}/links/${encodeURIComponent(lk.name)}${q}`,
    width: 375, title: T.preview_link.replace("{label}", pick(lk.label, lang) || lk.name) }));
  return frames;
}

/* The picker's choices: a new record, then the entity's recent records ({id, title, state}) by title. */
export function recordChoices(items, T) {
  return [{ value: "", text: T.preview_new_record }].concat((items || []).map((r) => ({ value: String(r.id),
    text: `${r.title}${r.state ? ` · ${r.state}` : ""} (#${r.id})` })));
}

const RECORDS = {};  // entity -> its recent records, fetched once per designer page

/* The picker of the record shown: "new record", or one of the entity's recent records (read-only; nothing written). */
function recordPicker(box, ctx) {
  const { S, T, APP, el } = ctx;
  let bar = box.querySelector(".d-preview-record");
  if (!bar) {
    bar = el("div", { class: "d-preview-record" });
    const sel = el("select", { id: "d-preview-record", "aria-label": T.preview_record });
    const lab = el("label", { for: "d-preview-record" }, T.preview_record);
    sel.addEventListener("change", () => { S.previewRecord = sel.value || null; renderPreview(box, ctx); });
    bar.append(lab, sel);
    box.prepend(bar);
  }
  const sel = bar.querySelector("select");
  if (sel.dataset.entity === S.entity) return;
  sel.dataset.entity = S.entity || "";
  S.previewRecord = null;
  const fill = (items) => {
    sel.replaceChildren(...recordChoices(items, T).map((c) => el("option", { value: c.value }, c.text)));
  };
  fill(RECORDS[S.entity] || []);
  if (!S.entity || RECORDS[S.entity]) return;
  const ent = S.entity;
  fetch(`/builder/${encodeURIComponent(APP)}/preview/${encodeURIComponent(ent)}/records`, { credentials: "same-origin",
    headers: { Accept: "application/json" } }).then((r) => (r.ok ? r.json() : { items: [] })).then((d) => {
    RECORDS[ent] = d.items || [];
    if (sel.dataset.entity === ent) fill(RECORDS[ent]);
  }).catch(() => {});
}

/* Draw (or refresh) the frames into box; a frame whose url did not change is left alone. */
export function renderPreview(box, ctx) {
  const { S, T, LANG, APP, el, pick } = ctx;
  recordPicker(box, ctx);
  const frames = previewFrames(APP, S.entity, S.sha, linksOf(S.data, S.entity), T, pick, LANG, S.previewRecord);
  const want = new Set(frames.map((f) => f.id));
  Array.from(box.querySelectorAll(".d-preview-frame")).forEach((n) => { if (!want.has(n.dataset.id)) n.remove(); });
  if (!box.querySelector(".d-hint")) box.prepend(el("p", { class: "d-hint" }, T.preview_hint));
  frames.forEach((f) => {
    let fig = box.querySelector(`.d-preview-frame[data-id="${f.id}"]`);
    if (!fig) {
      fig = el("figure", { class: `d-preview-frame w${f.width}`, "data-id": f.id });
      const cap = el("figcaption", {}, f.title);
      const clip = el("div", { class: "d-preview-clip" });
      const frame = el("iframe", { id: f.id, title: f.title, sandbox: "allow-same-origin", loading: "eager",
        width: String(f.width), height: f.width > 375 ? "900" : "667" });
      clip.append(frame);
      fig.append(cap, clip);
      box.append(fig);
    }
    const frame = fig.querySelector("iframe");
    if (frame.dataset.url !== f.url) { frame.dataset.url = f.url; frame.src = f.url; }
  });
}
