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
export function previewFrames(app, entity, sha, links, T, pick, lang) {
  if (!entity) return [];
  const base = `/builder/${encodeURIComponent(app)}/preview/${encodeURIComponent(entity)}`;
  const q = `?lang=${lang}&v=${encodeURIComponent(String(sha || "").slice(0, 12))}`;
  const frames = [
    { id: "d-preview-desktop", url: base + q, width: 1024, title: T.preview_desktop },
    { id: "d-preview-phone", url: base + q, width: 375, title: T.preview_phone },
  ];
  links.forEach((lk) => frames.push({ id: `d-preview-link-${lk.name}`, url: `${base}/links/${encodeURIComponent(lk.name)}${q}`,
    width: 375, title: T.preview_link.replace("{label}", pick(lk.label, lang) || lk.name) }));
  return frames;
}

/* Draw (or refresh) the frames into box; a frame whose url did not change is left alone. */
export function renderPreview(box, ctx) {
  const { S, T, LANG, APP, el, pick } = ctx;
  const frames = previewFrames(APP, S.entity, S.sha, linksOf(S.data, S.entity), T, pick, LANG);
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
