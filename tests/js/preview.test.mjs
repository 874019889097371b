// The preview's frames (builder/static/preview.js): which pages, at which widths, reloaded when the draft changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { linksOf, previewFrames } from "../../builder/static/preview.js";

const T = { preview_desktop: "D", preview_phone: "P", preview_link: "L {label}" };
const pick = (l, lang) => (l && typeof l === "object" ? l[lang] : l || "");

test("desktop and phone of the form, and one phone frame per shared link of the entity", () => {
  const data = { links: { upd: { entity: "batch", label: { zh: "更新" } }, other: { entity: "partner" },
    report: { entity: "report", on: "batch", creates: true } } };
  const links = linksOf(data, "batch");
  assert.deepEqual(links.map((l) => l.name), ["upd", "report"]);
  const frames = previewFrames("outsourcing", "batch", "abcdef0123456789", links, T, pick, "zh");
  assert.deepEqual(frames.map((f) => [f.width, f.url]), [
    [1024, "/builder/outsourcing/preview/batch?lang=zh&v=abcdef012345"],
    [375, "/builder/outsourcing/preview/batch?lang=zh&v=abcdef012345"],
    [375, "/builder/outsourcing/preview/batch/links/upd?lang=zh&v=abcdef012345"],
    [375, "/builder/outsourcing/preview/batch/links/report?lang=zh&v=abcdef012345"]]);
  assert.equal(frames[2].title, "L 更新");
  // a new draft: new urls, so the frames reload
  assert.notEqual(previewFrames("outsourcing", "batch", "ffff", [], T, pick, "zh")[0].url, frames[0].url);
  assert.deepEqual(previewFrames("outsourcing", null, "x", [], T, pick, "zh"), []);
});

test("an existing record: its id in the form frames' url, the link frames unchanged; the picker's choices", async () => {
  const { recordChoices } = await import("../../builder/static/preview.js");
  const links = [{ name: "upd", label: "U" }];
  const frames = previewFrames("outsourcing", "batch", "abc", links, T, pick, "zh", 7);
  assert.deepEqual(frames.map((f) => f.url), ["/builder/outsourcing/preview/batch?lang=zh&v=abc&record=7",
    "/builder/outsourcing/preview/batch?lang=zh&v=abc&record=7", "/builder/outsourcing/preview/batch/links/upd?lang=zh&v=abc"]);
  assert.deepEqual(recordChoices([{ id: 7, title: "WF-7", state: "已发出" }], { preview_new_record: "新" }),
    [{ value: "", text: "新" }, { value: "7", text: "WF-7 · 已发出 (#7)" }]);
});
