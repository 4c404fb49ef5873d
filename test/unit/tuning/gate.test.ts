import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decideGate, defaultGate, type GateInput, type GateOpenSet } from "../../../src/tuning/gate.js";

/** A candidate good enough on accuracy, so each case tests the "unknown" answer alone. */
const accurate: GateInput = { candidateAccuracy: 0.97, deployedAccuracy: null, testPhotos: 100 };
const figures = (change: Partial<GateOpenSet>): GateOpenSet => ({
  strangerRejection: 0.97,
  strangerPhotos: 60,
  measuredOn: "test",
  knownRejection: 0.01,
  knownPhotos: 100,
  deployed: null,
  ...change,
});

describe("gate: the unknown answer", () => {
  const cases: Array<[string, GateOpenSet, boolean, string, RegExp]> = [
    ["rejects enough strangers and few known people", figures({}), true, "passed", /meets 90\.0%, and nothing is deployed yet; it rejects 97\.0% of 60 photos of held-out strangers and 1\.0% of known people's$/],
    ["exactly at the minimum", figures({ strangerRejection: 0.9 }), true, "passed", /rejects 90\.0%/],
    [
      "names too many strangers",
      figures({ strangerRejection: 0.85 }),
      false,
      "open-set",
      /^it answers "unknown" for 85\.0% of 60 photos of held-out strangers, below the required 90\.0%: strangers would be named as someone$/,
    ],
    ["measured on the calibration when the test split has no stranger", figures({ strangerRejection: 0.5, measuredOn: "calibration", strangerPhotos: 7 }), false, "open-set", /50\.0% of 7 photos of calibration strangers/],
    ["rejects too many known people", figures({ knownRejection: 0.08 }), false, "open-set", /^it answers "unknown" for 8\.0% of 100 photos of known people held out, above the allowed 5\.0%$/],
    [
      "worse than the deployed model on the same _not/ photos",
      figures({ deployed: { version: "v4", strangerRejection: 0.99, candidateStrangerRejection: 0.9, photos: 20 } }),
      false,
      "regression",
      /^it answers "unknown" for 90\.0% of the 20 photos under _not\/, more than 1\.0% below the deployed v4's 99\.0%$/,
    ],
    ["as good as the deployed model", figures({ deployed: { version: "v4", strangerRejection: 0.95, candidateStrangerRejection: 0.95, photos: 20 } }), true, "passed", /\(v4: 95\.0% of the same _not\/ photos\)$/],
    ["no stranger to measure on: the known bound still holds", figures({ strangerRejection: null, strangerPhotos: 0 }), true, "passed", /no stranger photo to measure its "unknown" answer on/],
  ];
  for (const [name, openSet, pass, verdict, reason] of cases) {
    test(name, () => {
      const decision = decideGate({ ...accurate, openSet }, defaultGate);
      assert.equal(decision.pass, pass, decision.reason);
      assert.equal(decision.verdict, verdict);
      assert.match(decision.reason, reason);
    });
  }

  test("accuracy is judged first; a candidate without the open-set rule is judged on accuracy alone", () => {
    assert.equal(decideGate({ ...accurate, candidateAccuracy: 0.5, openSet: figures({ strangerRejection: 0 }) }).verdict, "absolute");
    assert.equal(decideGate({ ...accurate, openSet: null }).pass, true);
    // Settings from before the open-set keys: no bound on either rate.
    assert.equal(decideGate({ ...accurate, openSet: figures({ strangerRejection: 0.1, knownRejection: 0.5 }) }, { minAccuracy: 0.9, maxRegression: 0.01 }).pass, true);
  });

  test("open-set settings outside 0..1 are refused, naming the setting", () => {
    assert.throws(() => decideGate(accurate, { ...defaultGate, minStrangerRejection: 97 }), /minStrangerRejection must be within 0\.\.1, received 97/);
    assert.throws(() => decideGate(accurate, { ...defaultGate, maxKnownRejection: -0.1 }), /maxKnownRejection must be within 0\.\.1, received -0\.1/);
  });
});

describe("gate: no one person lost", () => {
  const deployedV3: GateInput = { candidateAccuracy: 0.96, deployedAccuracy: 0.95, deployedVersion: "v3", testPhotos: 120 };
  const recalls = (alice: number) => [
    { person: "Alice", photos: 8, candidate: alice, deployed: 1 },
    { person: "Bob", photos: 10, candidate: 1, deployed: 0.9 },
    { person: "Carol", photos: 6, candidate: 1, deployed: 0.83 },
  ];
  const cases: Array<[string, GateInput, boolean, string, RegExp]> = [
    [
      "more accurate overall, yet one person lost: refused, naming the person",
      { ...deployedV3, personRecalls: recalls(0.5) },
      false,
      "person-regression",
      /^Alice's recall 50\.0% on 8 photos of theirs held out is more than 25\.0% below the deployed v3's 100\.0% on the same photos, though the accuracy over everyone is 96\.0%$/,
    ],
    ["a drop within the limit passes", { ...deployedV3, personRecalls: recalls(0.75) }, true, "passed", /^test accuracy 96\.0%/],
    ["the worst of several drops is the one named", { ...deployedV3, personRecalls: [...recalls(0.6), { person: "Dan", photos: 4, candidate: 0.25, deployed: 1 }] }, false, "person-regression", /^Dan's recall 25\.0% on 4 photos of theirs/],
    [
      "one photo of three answered wrong is not a person lost (one photo is the noise of a retrained head at this size)",
      { ...deployedV3, personRecalls: [...recalls(1), { person: "Erin", photos: 3, candidate: 2 / 3, deployed: 1 }] },
      true,
      "passed",
      /^test accuracy 96\.0%/,
    ],
    ["two photos of three are", { ...deployedV3, personRecalls: [...recalls(1), { person: "Erin", photos: 3, candidate: 1 / 3, deployed: 1 }] }, false, "person-regression", /^Erin's recall 33\.3% on 3 photos of theirs/],
    ["both photos of two are", { ...deployedV3, personRecalls: [...recalls(1), { person: "Fred", photos: 2, candidate: 0, deployed: 1 }] }, false, "person-regression", /^Fred's recall 0\.0% on 2 photos of theirs/],
    ["nothing deployed: nobody to compare with", { ...accurate, personRecalls: null }, true, "passed", /nothing is deployed yet/],
    ["people the deployed model never had are not compared", { ...deployedV3, personRecalls: [] }, true, "passed", /v3 scores 95\.0%/],
  ];
  for (const [name, input, pass, verdict, reason] of cases) {
    test(name, () => {
      const decision = decideGate(input, defaultGate);
      assert.equal(decision.pass, pass, decision.reason);
      assert.equal(decision.verdict, verdict);
      assert.match(decision.reason, reason);
    });
  }

  test("the limit is a share, 0..1, and can be left out by older callers", () => {
    assert.throws(() => decideGate(deployedV3, { ...defaultGate, maxPersonRegression: 1.5 }), /maxPersonRegression must be within 0\.\.1, received 1\.5/);
    const { maxPersonRegression: _left, ...older } = defaultGate;
    assert.equal(decideGate({ ...deployedV3, personRecalls: recalls(0) }, older).pass, true);
  });
});
