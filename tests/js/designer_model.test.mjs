// The designer's model (builder/static/model.js) in Node: edits for layouts, order, renames, removals; errors; undo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { addTabEdits, errorsByField, History, layoutEdits, layoutOf, newKey, orderEdits, parseProp, removeEdits,
  removeTabEdits, renameEdits } from "../../builder/static/model.js";

const data = { entities: { batch: {
  fields: { customer: { type: "text" }, qty: { type: "integer", label: { zh: "数量" } }, remark: { type: "longtext" } },
  layout: { sections: [{ label: { zh: "基本" }, columns: [["customer"], ["qty"]] }] },
  list: { columns: ["customer", "qty"], search: ["customer"] },
} } };
const published = JSON.parse(JSON.stringify(data));

test("layout sections, columns and unplaced fields", () => {
  const lay = layoutOf(data, "batch");
  assert.equal(lay.hasLayout, true);
  assert.deepEqual(lay.sections[0].columns, [["customer"], ["qty"]]);
  assert.deepEqual(lay.sections[0].path, ["entities", "batch", "layout", "sections", 0]);
  assert.deepEqual(lay.unplaced, ["remark"]);
});

test("a drop changes only the columns that changed", () => {
  const lay = layoutOf(data, "batch");
  const after = [Object.assign({}, lay.sections[0], { columns: [["customer", "remark"], ["qty"]] })];
  assert.deepEqual(layoutEdits(lay.sections, after), [
    { op: "set", path: ["entities", "batch", "layout", "sections", 0, "columns", 0], value: ["customer", "remark"] }]);
});

test("reordering fields without a layout moves keys", () => {
  const edits = orderEdits("batch", ["customer", "qty", "remark"], ["remark", "customer", "qty"]);
  assert.deepEqual(edits, [{ op: "move", path: ["entities", "batch", "fields", "remark"], index: 0 }]);
});

test("renaming a published field records renamed_from and follows layout and list", () => {
  const edits = renameEdits(data, published, "batch", "qty", "sent_qty");
  assert.deepEqual(edits[0], { op: "rename", path: ["entities", "batch", "fields", "qty"], to: "sent_qty" });
  assert.deepEqual(edits[1], { op: "set", path: ["entities", "batch", "fields", "sent_qty", "renamed_from"], value: "qty" });
  assert.ok(edits.some((e) => e.path.join(".") === "entities.batch.layout.sections.0.columns.1" && e.value[0] === "sent_qty"));
  assert.ok(edits.some((e) => e.path.join(".") === "entities.batch.list.columns" && e.value[1] === "sent_qty"));
  // a field that is only in the draft is renamed without renamed_from
  assert.equal(renameEdits(data, { entities: {} }, "batch", "qty", "n").length, 3);
});

test("renaming or removing a field follows the kanban card and the printed documents", () => {
  const d = JSON.parse(JSON.stringify(data));
  d.entities.batch.list.card = ["qty", "customer"];
  d.documents = { note: { entity: "batch", sections: [{ fields: ["customer", "qty"] }] }, other: { entity: "x", sections: [{ fields: ["qty"] }] } };
  const edits = renameEdits(d, published, "batch", "qty", "sent_qty");
  assert.ok(edits.some((e) => e.path.join(".") === "entities.batch.list.card" && e.value[0] === "sent_qty"));
  assert.ok(edits.some((e) => e.path.join(".") === "documents.note.sections.0.fields" && e.value[1] === "sent_qty"));
  assert.ok(!edits.some((e) => e.path[1] === "other"));
  const gone = removeEdits(d, "batch", "qty");
  assert.ok(gone.some((e) => e.path.join(".") === "documents.note.sections.0.fields" && e.value.join() === "customer"));
});

test("removing a field takes it out of layout and list", () => {
  const edits = removeEdits(data, "batch", "customer");
  assert.deepEqual(edits[edits.length - 1], { op: "delete", path: ["entities", "batch", "fields", "customer"] });
  assert.equal(edits.length, 4);
});

test("errors grouped by field with the property", () => {
  const g = errorsByField([{ path: "entities.batch.fields.qty.min", message: "m" }, { path: "roles", message: "r" }]);
  assert.equal(g.byField["batch/qty"][0].prop, "min");
  assert.equal(g.other.length, 1);
});

test("new keys, property values, undo and redo", () => {
  assert.equal(newKey({ number_1: {} }, "number"), "number_2");
  assert.equal(parseProp("number", "0"), 0);
  assert.equal(parseProp("number", ""), null);
  assert.equal(parseProp("bool", false), null);
  assert.equal(parseProp("boolexpr", "state == 'done'"), "state == 'done'");
  const h = new History();
  h.record("a");
  h.record("b");
  assert.equal(h.back("c"), "b");
  assert.equal(h.forward("b"), "c");
  assert.equal(h.forward("c"), null);
});

test("renaming an entity records renamed_from and follows links", async () => {
  const { renameEntity } = await import("../../builder/static/entity.js");
  const d = { entities: { partner: { title: { zh: "厂" }, fields: {} },
    batch: { fields: { partner: { type: "link", to: "partner" } } } } };
  const edits = renameEntity(d, d, "partner", "supplier");
  assert.deepEqual(edits[0], { op: "rename", path: ["entities", "partner"], to: "supplier" });
  assert.deepEqual(edits[1].path, ["entities", "supplier", "renamed_from"]);
  assert.deepEqual(edits[2], { op: "set", path: ["entities", "batch", "fields", "partner", "to"], value: "supplier" });
});

test("permission grants as edits", async () => {
  const { grantEdit, rolesOf } = await import("../../builder/static/permissions.js");
  const d = { roles: { qc: {}, planner: {} }, entities: { batch: { permissions: { qc: { read: true } } } } };
  assert.deepEqual(rolesOf(d, "batch"), ["qc", "planner"]);
  assert.deepEqual(grantEdit(d, "batch", "qc", "update", "state == 'awaiting_qc'"),
    { op: "set", path: ["entities", "batch", "permissions", "qc", "update"], value: "state == 'awaiting_qc'" });
  assert.deepEqual(grantEdit(d, "batch", "planner", "read", true),
    { op: "set", path: ["entities", "batch", "permissions", "planner"], value: { read: true } });
  assert.deepEqual(grantEdit(d, "batch", "qc", "read", null), { op: "delete", path: ["entities", "batch", "permissions", "qc"] });
  assert.equal(grantEdit(d, "batch", "planner", "read", null), null);
});

test("renaming or removing a field follows the shared links and transitions that name it", () => {
  const d = JSON.parse(JSON.stringify(data));
  d.links = { upd: { entity: "batch", show: ["customer"], edit: ["qty", "remark"] }, other: { entity: "x", edit: ["qty"] } };
  d.entities.batch.workflow = { transitions: { ret: { require: ["qty"] } } };
  const renamed = renameEdits(d, published, "batch", "qty", "sent_qty");
  assert.ok(renamed.some((e) => e.path.join(".") === "links.upd.edit" && e.value[0] === "sent_qty"));
  assert.ok(renamed.some((e) => e.path.join(".") === "entities.batch.workflow.transitions.ret.require" && e.value[0] === "sent_qty"));
  assert.ok(!renamed.some((e) => e.path[1] === "other"));
  const removed = removeEdits(d, "batch", "remark");
  assert.ok(removed.some((e) => e.path.join(".") === "links.upd.edit" && e.value.length === 1));
});

test("tabs: a layout of sections becomes the first tab, tabs are added, removed with their fields kept", () => {
  const names = { first: { zh: "基本" }, tab: { zh: "新标签页" }, section: { zh: "新分组" } };
  const [conv] = addTabEdits(data, "batch", names);
  assert.deepEqual(conv.path, ["entities", "batch", "layout"]);
  assert.deepEqual(conv.value.tabs[0].sections, data.entities.batch.layout.sections);
  assert.deepEqual(conv.value.tabs[1], { label: { zh: "新标签页" }, sections: [{ label: { zh: "新分组" }, columns: [[]] }] });
  const tabbed = { entities: { batch: Object.assign({}, data.entities.batch, { layout: conv.value }) } };
  const lay = layoutOf(tabbed, "batch");
  assert.equal(lay.tabs.length, 2);
  assert.deepEqual(lay.sections.map((x) => x.tabIndex), [0, 1]);
  assert.deepEqual(lay.sections[1].path, ["entities", "batch", "layout", "tabs", 1, "sections", 0]);
  assert.deepEqual(addTabEdits(tabbed, "batch", names)[0].op, "append");
  // removing the first tab moves its fields into the other tab's last column, then deletes the tab
  assert.deepEqual(removeTabEdits(tabbed, "batch", 0), [
    { op: "set", path: ["entities", "batch", "layout", "tabs", 1, "sections", 0, "columns", 0], value: ["customer", "qty"] },
    { op: "delete", path: ["entities", "batch", "layout", "tabs", 0] }]);
  assert.deepEqual(removeTabEdits({ entities: { batch: { fields: {}, layout: { tabs: [{ sections: [] }] } } } }, "batch", 0), []);
  // without a layout every field goes into the first tab
  const bare = { entities: { e: { fields: { a: {}, b: {} } } } };
  assert.deepEqual(addTabEdits(bare, "e", names)[0].value.tabs[0].sections[0].columns, [["a", "b"]]);
});

test("child tables: their fields, errors, order, renames", async () => {
  const { childErrors, childFieldsOf, childOrderEdits, childRenameEdits } = await import("../../builder/static/model.js");
  const d = { entities: { wo: { fields: { lines: { type: "table", fields: { part: { type: "text" }, qty: { type: "integer" } } } } } } };
  assert.deepEqual(Object.keys(childFieldsOf(d, "wo", "lines")), ["part", "qty"]);
  assert.deepEqual(childOrderEdits("wo", "lines", ["part", "qty"], ["qty", "part"]),
    [{ op: "move", path: ["entities", "wo", "fields", "lines", "fields", "qty"], index: 0 }]);
  const errs = childErrors([{ path: "entities.wo.fields.lines.fields.qty.min", message: "m" },
    { path: "entities.wo.fields.lines.fields.qtyx", message: "n" }], "wo", "lines", "qty");
  assert.deepEqual(errs.map((e) => e.prop), ["min"]);
  assert.deepEqual(childRenameEdits(d, d, "wo", "lines", "qty", "count")[1],
    { op: "set", path: ["entities", "wo", "fields", "lines", "fields", "count", "renamed_from"], value: "qty" });
});

test("archiving: an edit of archived, and archived entities are no new link targets", async () => {
  const { archiveEdits, linkTargets } = await import("../../builder/static/model.js");
  const d = { entities: { partner: { title: "P", archived: true, fields: {} }, batch: { fields: {} }, part: { fields: {} } } };
  assert.deepEqual(linkTargets(d), ["batch", "part"]);
  assert.deepEqual(linkTargets(d, "partner"), ["partner", "batch", "part"]);  // an existing link keeps its target
  assert.deepEqual(archiveEdits(d, "batch", true), [{ op: "set", path: ["entities", "batch", "archived"], value: true, after: "title" }]);
  assert.deepEqual(archiveEdits(d, "partner", false), [{ op: "delete", path: ["entities", "partner", "archived"] }]);
  assert.deepEqual(archiveEdits(d, "partner", true), []);
});

test("transitions: required fields and fields to set; moving tabs and sections", async () => {
  const { requireEdits, setRowEdits, moveEdits } = await import("../../builder/static/model.js");
  const p = ["entities", "b", "workflow", "transitions", "t"];
  assert.deepEqual(requireEdits({}, p, ["remark"]), [{ op: "set", path: p.concat(["require"]), value: ["remark"] }]);
  assert.deepEqual(requireEdits({ require: ["x"] }, p, []), [{ op: "delete", path: p.concat(["require"]) }]);
  assert.deepEqual(requireEdits({}, p, []), []);
  assert.deepEqual(setRowEdits({}, p, null, "done_at", "now()"), [{ op: "set", path: p.concat(["set"]), value: { done_at: "now()" } }]);
  const tr = { set: { done_at: "now()", by: "user.username" } };
  assert.deepEqual(setRowEdits(tr, p, "done_at", "done_at", "today()"), [{ op: "set", path: p.concat(["set", "done_at"]), value: "today()" }]);
  assert.deepEqual(setRowEdits(tr, p, "done_at", "done_at", ""), [{ op: "delete", path: p.concat(["set", "done_at"]) }]);
  assert.deepEqual(setRowEdits(tr, p, "done_at", "end_at", "now()"), [{ op: "set", path: p.concat(["set"]), value: { by: "user.username", end_at: "now()" } }]);
  assert.deepEqual(setRowEdits({ set: { a: "1" } }, p, "a", "a", " "), [{ op: "delete", path: p.concat(["set"]) }]);
  assert.deepEqual(setRowEdits(tr, p, "done_at", "done_at", "now()"), []);
  assert.deepEqual(moveEdits(["x", "tabs"], 2, 0), [{ op: "move", path: ["x", "tabs", 2], index: 0 }]);
  assert.deepEqual(moveEdits(["x", "tabs"], 1, 1), []);
});
