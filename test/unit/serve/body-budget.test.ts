import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BodyAllowance, BodyBudget } from "../../../src/serve/body-budget.js";

/** The accounting of the process-wide budget for request bodies, without HTTP. */
describe("BodyBudget", () => {
  test("allowances hold what their requests buffered, refuse what does not fit, and give it all back once", () => {
    const budget = new BodyBudget(1000);
    const first = new BodyAllowance(budget);
    const second = new BodyAllowance(budget);
    assert.ok(first.hold(600));
    assert.ok(first.hold(400), "holding less than already held takes nothing more");
    assert.equal(budget.heldBytes, 600);
    assert.equal(second.hold(401), false, "401 more do not fit beside 600");
    assert.equal(budget.heldBytes, 600, "a refusal takes nothing");
    assert.ok(second.hold(400));
    assert.equal(budget.heldBytes, 1000);
    first.release();
    first.release();
    assert.equal(budget.heldBytes, 400, "released once, however often release is called");
    assert.ok(first.hold(10_000), "a released allowance (its request is over) holds nothing more");
    assert.equal(budget.heldBytes, 400);
    second.release();
    assert.equal(budget.heldBytes, 0);
  });

  test("an allowance without a budget holds anything; a budget must be a positive whole number of bytes", () => {
    assert.ok(new BodyAllowance(null).hold(Number.MAX_SAFE_INTEGER));
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new BodyBudget(bad), new RegExp(`received ${bad}`));
  });
});
