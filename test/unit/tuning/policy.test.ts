import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EpochCurve } from "../../../src/model/learning-curve.js";
import { decideGate } from "../../../src/tuning/gate.js";
import { diagnose, nextAttempt, type AttemptHistory, type Hyperparameters } from "../../../src/tuning/policy.js";

const configured: Hyperparameters = { epochs: 5, learningRate: 0.001, dropout: 0.5 };

/** Curves from (trainLoss, trainAccuracy, testAccuracy) per epoch. */
function curves(...epochs: Array<[number, number, number]>): EpochCurve[] {
  return epochs.map(([trainLoss, trainAccuracy, testAccuracy], index) => ({
    epoch: index + 1,
    trainLoss,
    trainAccuracy,
    testLoss: trainLoss * 1.1,
    testAccuracy,
    validationLoss: null,
    diverged: !Number.isFinite(trainLoss),
  }));
}

const failed = (hyperparameters: Hyperparameters, history: EpochCurve[]): AttemptHistory => ({ hyperparameters, curves: history, testAccuracy: history.at(-1)?.testAccuracy ?? null, outcome: "failed" });

describe("gate", () => {
  const cases: Array<[string, Parameters<typeof decideGate>[0], boolean, string, RegExp]> = [
    ["first model, good enough", { candidateAccuracy: 0.95, deployedAccuracy: null, testPhotos: 40 }, true, "passed", /95\.0% on 40 held-out photos meets 90\.0%, and nothing is deployed yet/],
    ["exactly at the threshold", { candidateAccuracy: 0.9, deployedAccuracy: null, testPhotos: 10 }, true, "passed", /meets/],
    ["below the threshold", { candidateAccuracy: 0.85, deployedAccuracy: null, testPhotos: 20 }, false, "absolute", /85\.0% on 20 held-out photos is below the required 90\.0%/],
    ["within the allowed regression", { candidateAccuracy: 0.945, deployedAccuracy: 0.95, deployedVersion: "v3", testPhotos: 200 }, true, "passed", /v3 scores 95\.0%/],
    ["worse than the deployed model", { candidateAccuracy: 0.92, deployedAccuracy: 0.96, deployedVersion: "v3", testPhotos: 50 }, false, "regression", /more than 1\.0% below the deployed v3's 96\.0% on the same photos/],
    ["no accuracy at all", { candidateAccuracy: Number.NaN, deployedAccuracy: null, testPhotos: 5 }, false, "absolute", /no test accuracy/],
  ];
  for (const [name, input, pass, verdict, reason] of cases) {
    test(name, () => {
      const decision = decideGate(input);
      assert.equal(decision.pass, pass);
      assert.equal(decision.verdict, verdict);
      assert.match(decision.reason, reason);
    });
  }
  test("settings outside 0..1 are refused, naming the setting", () => {
    assert.throws(() => decideGate({ candidateAccuracy: 1, deployedAccuracy: null, testPhotos: 1 }, { minAccuracy: 90, maxRegression: 0.01 }), /minAccuracy must be within 0\.\.1, received 90/);
  });
});

describe("tuning policy", () => {
  test("diagnoses learning curves", () => {
    const table: Array<[EpochCurve[], string]> = [
      [curves([2, 0.3, 0.3], [Number.NaN, 0.1, 0.1]), "diverged"],
      [curves([2, 0.3, 0.3], [3, 0.2, 0.2]), "diverged"],
      [curves([4.5, 0.05, 0.04], [4.2, 0.2, 0.18]), "underfitting"],
      [curves([1, 0.8, 0.6], [0.1, 0.99, 0.7]), "overfitting"],
      [curves([1, 0.8, 0.8], [0.1, 0.99, 0.93]), "close"],
      [[], "diverged"],
    ];
    for (const [history, expected] of table) assert.equal(diagnose(history, 0.9), expected);
  });

  test("attempt 1 uses the configured hyperparameters", () => {
    const decision = nextAttempt([], configured);
    assert.deepEqual(decision, { action: "attempt", attempt: 1, hyperparameters: configured, diagnosis: null, reason: "attempt 1 uses the configured hyperparameters (epochs 5, learning rate 0.00100, dropout 0.5)" });
  });

  test("each diagnosis gets its remedy, with a reason that cites the evidence", () => {
    const table: Array<[EpochCurve[], Partial<Hyperparameters>, RegExp]> = [
      [curves([2, 0.3, 0.3], [Number.NaN, 0.1, 0.1]), { learningRate: 0.0001 }, /was diverged \(training loss 2\.00 -> NaN\); attempt 2 tries learning rate \/ 10/],
      [curves([4.5, 0.05, 0.04], [4.2, 0.2, 0.18]), { epochs: 15 }, /was underfitting \(train accuracy 20\.0%, test accuracy 18\.0% after 2 epochs\); attempt 2 tries 3x the epochs/],
      [curves([1, 0.8, 0.6], [0.1, 0.99, 0.7]), { dropout: 0.6 }, /was overfitting .*dropout 0\.5 -> 0\.6/],
      [curves([1, 0.8, 0.8], [0.1, 0.99, 0.93]), { learningRate: 0.001 / 3, epochs: 10 }, /was close .*a third of the learning rate over 2x the epochs/],
    ];
    for (const [history, change, reason] of table) {
      const decision = nextAttempt([failed(configured, history)], configured);
      assert.equal(decision.action, "attempt");
      if (decision.action !== "attempt") continue;
      assert.equal(decision.attempt, 2);
      assert.deepEqual(decision.hyperparameters, { ...configured, ...change });
      assert.match(decision.reason, reason);
    }
  });

  test("a proposal never repeats hyperparameters already tried", () => {
    const underfit = curves([4.5, 0.05, 0.04], [4.2, 0.2, 0.18]);
    // The last attempt ran the configured values; its first remedy (3x the epochs) was tried before.
    const history: AttemptHistory[] = [failed({ ...configured, epochs: 15 }, underfit), failed(configured, underfit)];
    const decision = nextAttempt(history, configured);
    assert.equal(decision.action, "attempt");
    if (decision.action === "attempt") {
      assert.deepEqual(decision.hyperparameters, { ...configured, learningRate: 0.003 });
      assert.match(decision.reason, /tries 3x the learning rate/);
    }
    // When every remedy for the diagnosis was tried, the run stops and says so.
    const diverging = curves([2, 0.3, 0.3], [Number.NaN, 0.1, 0.1]);
    const exhausted = [failed({ ...configured, learningRate: 0.0001 }, diverging), failed({ ...configured, learningRate: 0.00001 }, diverging), failed(configured, diverging)];
    assert.deepEqual(nextAttempt(exhausted, configured, { maxAttempts: 10, maxCrashedAttempts: 2, minAccuracy: 0.9 }), {
      action: "stop",
      reason: "attempt 3 was diverged (training loss 2.00 -> NaN) and every change for that has been tried",
    });
  });

  test("the budget: maxAttempts counts the first; crashes retry the same and are bounded; a pass stops", () => {
    const underfit = curves([4.5, 0.05, 0.04], [4.2, 0.2, 0.18]);
    const four = [configured, { ...configured, epochs: 15 }, { ...configured, epochs: 45 }, { ...configured, epochs: 135 }].map((hyperparameters) => failed(hyperparameters, underfit));
    assert.deepEqual(nextAttempt(four, configured), { action: "stop", reason: "all 4 attempts were spent without passing the gate" });
    const crash: AttemptHistory = { hyperparameters: configured, curves: [], testAccuracy: null, outcome: "crashed" };
    const retry = nextAttempt([crash], configured);
    assert.equal(retry.action, "attempt");
    if (retry.action === "attempt") assert.deepEqual(retry.hyperparameters, configured);
    assert.deepEqual(nextAttempt([crash, crash], configured), { action: "stop", reason: "2 attempts crashed, the limit is 2" });
    assert.deepEqual(nextAttempt([{ ...crash, outcome: "passed" }], configured), { action: "stop", reason: "attempt 1 passed the gate" });
  });

  test("hyperparameters stay within sane limits", () => {
    const underfit = curves([4.5, 0.05, 0.04], [4.2, 0.2, 0.18]);
    const big: Hyperparameters = { epochs: 400, learningRate: 0.09, dropout: 0.8 };
    const decision = nextAttempt([failed(big, underfit)], big);
    assert.equal(decision.action, "attempt");
    if (decision.action === "attempt") {
      assert.ok(decision.hyperparameters.epochs <= 500);
      assert.ok(decision.hyperparameters.learningRate <= 0.1);
    }
  });
});
