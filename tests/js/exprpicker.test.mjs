// The expression picker's pure parts (builder/static/exprpicker.js): the names offered and insertion at the cursor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exprNames, functionInsert, insertAt } from "../../builder/static/exprpicker.js";

const T = { expr_fields: "F", expr_links: "L", expr_user: "U", expr_system: "S" };
const data = {
  user_attributes: { partner: { type: "link", to: "partner", label: { zh: "所属外协厂" } } },
  entities: {
    partner: { fields: { name: { type: "text", label: { zh: "厂名" } }, phone: { type: "phone" } } },
    batch: { naming: "WF{####}", workflow: { initial: "a" },
      fields: { qty: { type: "integer", label: { zh: "数量" } }, partner: { type: "link", to: "partner" },
        lines: { type: "table", fields: {} } } },
  },
};

test("fields, link paths, user attributes and system columns", () => {
  const groups = Object.fromEntries(exprNames(data, "batch", T, "zh").map((g) => [g.group, g.items.map((i) => i.insert)]));
  assert.deepEqual(groups.F, ["qty", "partner"]);
  assert.deepEqual(groups.L, ["partner.name", "partner.phone"]);
  assert.deepEqual(groups.U, ["user.username", "user.display_name", "user.partner"]);
  assert.ok(groups.S.includes("state") && groups.S.includes("name") && groups.S.includes("created_at"));
  assert.equal(exprNames(data, "partner", T, "zh").find((g) => g.group === "L"), undefined);
});

test("insertion at the cursor, spaced, with the cursor inside a function's parentheses", () => {
  assert.deepEqual(insertAt("qty > ", 6, 6, "partner.name"), ["qty > partner.name", 18]);
  assert.deepEqual(insertAt("qty >", 5, 5, "1"), ["qty > 1", 7]);
  assert.deepEqual(insertAt("", 0, 0, functionInsert({ name: "today" })), ["today()", 6]);
  assert.deepEqual(insertAt("max(a, )", 7, 7, "qty"), ["max(a, qty)", 10]);
  assert.deepEqual(insertAt("abc", 1, 2, "X"), ["a Xc", 3]);
});
