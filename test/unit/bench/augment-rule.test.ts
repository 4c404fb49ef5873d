import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chooseAugmentation, spread, type MeasuredSetting } from "../../../bench/augment-rule.js";

/** 1,000 photos, 800 of them training photos: a cold training embeds 1,000 + K x 800 crops. */
const setting = (id: string, k: number, balancedAccuracy: number[], headSeconds = k + 1): MeasuredSetting => ({ id, embeddings: 1000 + k * 800, headSeconds, balancedAccuracy });

describe("augment rule: the cheapest setting within 0.2 points of the best", () => {
  const cases: Array<[string, MeasuredSetting[], string, string[]]> = [
    [
      "K=0 within 0.2 points of the best wins on cost",
      [setting("K=0", 0, [0.989]), setting("K=1", 1, [0.99]), setting("K=4", 4, [0.9905])],
      "K=0",
      ["K=0", "K=1", "K=4"],
    ],
    [
      "a setting 0.25 points below the best is left out",
      [setting("K=0", 0, [0.9875]), setting("K=2", 2, [0.99]), setting("K=4", 4, [0.9895])],
      "K=2",
      ["K=2", "K=4"],
    ],
    ["exactly 0.2 points below counts as within", [setting("K=0", 0, [0.988]), setting("K=4", 4, [0.99])], "K=0", ["K=0", "K=4"]],
    [
      "the mean over seeds decides, not the best seed",
      [setting("K=0", 0, [0.995, 0.975, 0.976]), setting("K=4", 4, [0.99, 0.99, 0.99])],
      "K=4",
      ["K=4"],
    ],
    [
      "equal cost: the more accurate of the two",
      [setting("K=1", 1, [0.989]), setting("flip-only", 1, [0.99]), setting("K=4", 4, [0.99])],
      "flip-only",
      ["flip-only", "K=1", "K=4"],
    ],
    [
      "equal cost and accuracy: the faster head",
      [setting("K=1", 1, [0.99], 3), setting("flip-only", 1, [0.99], 2)],
      "flip-only",
      ["flip-only", "K=1"],
    ],
    ["the best is the cheapest", [setting("K=4", 4, [0.97]), setting("K=0", 0, [0.99])], "K=0", ["K=0"]],
  ];
  for (const [name, settings, chosen, within] of cases) {
    test(name, () => {
      const choice = chooseAugmentation(settings);
      assert.equal(choice.chosen, chosen);
      assert.deepEqual(choice.withinTolerance, within);
    });
  }

  test("the reason names the chosen and the best setting with their figures", () => {
    const choice = chooseAugmentation([setting("K=0", 0, [0.989]), setting("K=4", 4, [0.9905])]);
    assert.equal(choice.reason, "K=0 (98.90%, 1000 embeddings) is the cheapest setting within 0.2 points of the best, K=4 (99.05%, 4200 embeddings)");
    assert.deepEqual(choice.best, { id: "K=4", balancedAccuracy: 0.9905 });
    assert.equal(choice.withinNoise, false);
  });

  test("a best setting whose seeds spread wider than the tolerance is flagged as noise", () => {
    const choice = chooseAugmentation([setting("K=0", 0, [0.985]), setting("K=4", 4, [0.987, 0.99, 0.993])]);
    assert.equal(choice.withinNoise, true);
    assert.match(choice.reason, /K=4's seeds spread 0\.60%, wider than the tolerance, so the choice is within noise$/);
  });

  test("another tolerance", () => {
    assert.equal(chooseAugmentation([setting("K=0", 0, [0.985]), setting("K=4", 4, [0.99])], 0.5).chosen, "K=0");
  });

  test("bad input is refused with what was received", () => {
    assert.throws(() => chooseAugmentation([]), /at least one measured setting, received none/);
    assert.throws(() => chooseAugmentation([setting("K=0", 0, [])]), /setting K=0 has no balanced accuracy measured/);
    assert.throws(() => chooseAugmentation([setting("K=0", 0, [0.9])], -1), /non-negative number of points, received -1/);
  });
});

describe("augment rule: spread", () => {
  test("mean, extremes and sample standard deviation", () => {
    const result = spread([0.98, 0.99, 1]);
    assert.ok(Math.abs(result.mean - 0.99) < 1e-12);
    assert.equal(result.min, 0.98);
    assert.equal(result.max, 1);
    assert.ok(Math.abs(result.stdev - 0.01) < 1e-12);
    assert.deepEqual(spread([0.5]), { mean: 0.5, min: 0.5, max: 0.5, stdev: 0 });
    assert.throws(() => spread([]), /at least one value/);
  });
});
