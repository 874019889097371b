// The compact forms in the designer (model.js, permissions.js): "zh | en" labels, value: label options, role grants.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compactLabel, labelWith, optionItem, optionOut, pick, propEdits, splitLabel } from "../../builder/static/model.js";
import { compactGrant, grantEdit, grantOf } from "../../builder/static/permissions.js";

test("compact labels are read per language and written back in the form they have", () => {
  assert.equal(pick("厂名 | Name", "en"), "Name");
  assert.equal(pick("厂名 | Name", "zh"), "厂名");
  assert.equal(pick("厂名", "en"), "厂名");
  assert.equal(splitLabel("a |"), null);
  assert.equal(compactLabel("备注", "备注"), "备注");
  assert.equal(labelWith("厂名 | Name", "zh", "工厂"), "工厂 | Name");
  assert.deepEqual(labelWith({ zh: "a", en: "b" }, "en", "c"), { zh: "a", en: "c" });
  assert.deepEqual(propEdits({ label: "厂名 | Name" }, "name", ["f", "name", "label", "en"], ["label", "en"], "Factory"),
    [{ op: "set", path: ["f", "name", "label"], value: "厂名 | Factory" }]);
  assert.deepEqual(propEdits({ label: { zh: "a", en: "b" } }, "x", ["f", "x", "label", "zh"], ["label", "zh"], "c"),
    [{ op: "set", path: ["f", "x", "label", "zh"], value: "c" }]);
  assert.deepEqual(propEdits({ help: "说明" }, "x", ["f", "x", "help", "en"], ["help", "en"], "Note"),
    [{ op: "set", path: ["f", "x", "help"], value: "说明 | Note" }]);
});

test("options: the compact {value: label} form round-trips; long ones stay long", () => {
  const o = optionItem({ plating: "电镀 | Plating", color: "blue" });
  assert.deepEqual([o.value, pick(o.label, "en"), o.color], ["plating", "Plating", "blue"]);
  assert.deepEqual(optionOut(o), { plating: "电镀 | Plating", color: "blue" });
  assert.deepEqual(optionOut(optionItem({ value: "a", label: { zh: "甲", en: "A" } })), { value: "a", label: { zh: "甲", en: "A" } });
  assert.deepEqual(optionOut(optionItem("a")), { a: "a" });
  const pair = optionItem({ urgent: ["紧急 | Urgent", "red"] });  // the [label, colour] form stays so
  assert.deepEqual([pair.value, pick(pair.label, "en"), pair.color], ["urgent", "Urgent", "red"]);
  assert.deepEqual(optionOut(Object.assign(pair, { color: "orange" })), { urgent: ["紧急 | Urgent", "orange"] });
});

test("role grants: all, lists, one action and presets are read and rewritten compactly", () => {
  const data = { role_presets: { office: ["read", "create", "update"] },
    entities: { b: { fields: {}, permissions: { m: "all", p: "office", q: ["read"], r: { read: true } } } } };
  assert.deepEqual(grantOf(data, "all"), { read: true, create: true, update: true, delete: true, transition: true });
  assert.deepEqual(grantOf(data, "office"), { read: true, create: true, update: true });
  assert.deepEqual(grantOf(data, "read"), { read: true });
  assert.equal(compactGrant({ read: true, create: true, update: true, delete: true, transition: true }), "all");
  assert.deepEqual(grantEdit(data, "b", "m", "delete", null),
    { op: "set", path: ["entities", "b", "permissions", "m"], value: ["read", "create", "update", "transition"] });
  assert.deepEqual(grantEdit(data, "b", "q", "update", "state == 'open'"),
    { op: "set", path: ["entities", "b", "permissions", "q"], value: { read: true, update: "state == 'open'" } });
  const shared = { permissions: { m: "all" }, entities: { b: { fields: {}, permissions: { q: "read" } }, c: { fields: {} } } };
  assert.deepEqual(grantEdit(shared, "b", "m", "delete", null),
    { op: "set", path: ["entities", "b", "permissions", "m"], value: ["read", "create", "update", "transition"] });
  assert.deepEqual(grantEdit(shared, "c", "m", "read", true),
    { op: "set", path: ["entities", "c", "permissions"], value: { m: "all" } });
  assert.deepEqual(grantOf(shared, "none"), {});
  assert.deepEqual(grantEdit(data, "b", "r", "create", true),
    { op: "set", path: ["entities", "b", "permissions", "r", "create"], value: true });
});
