import assert from "node:assert/strict";
import { test } from "node:test";
import { wholeNumberIn } from "../../../src/util/whole-number.js";

test("wholeNumberIn: digits within the bounds, and nothing else", () => {
  assert.equal(wholeNumberIn("0", 0, 10), 0);
  assert.equal(wholeNumberIn("10", 0, 10), 10);
  assert.equal(wholeNumberIn("007", 1, 10), 7);
  assert.equal(wholeNumberIn("12", 1, Number.POSITIVE_INFINITY), 12);
  for (const text of ["11", "-1", "1.0", "1e1", " 3", "", "two", "0x5"]) assert.equal(wholeNumberIn(text, 0, 10), null, text);
  assert.equal(wholeNumberIn("0", 1, 10), null, "below the low bound");
});
