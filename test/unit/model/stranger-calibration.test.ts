import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { effectiveConfidentDistance, ReferenceSet } from "../../../src/model/open-set.js";
import {
  calibrateOnStrangers,
  chooseConfidentDistance,
  choosePseudoStrangers,
  chooseOpenSet,
  chooseStrangerThreshold,
  defaultStrangerCalibration,
  pseudoStrangerCount,
  rejectionRates,
  type CalibrationPhoto,
} from "../../../src/model/stranger-calibration.js";

const range = (from: number, to: number, step: number) => Array.from({ length: Math.round((to - from) / step) + 1 }, (_, index) => from + index * step);

describe("stranger calibration: the threshold choice", () => {
  const limits = { targetStrangerRejection: 0.9, maxKnownRejection: 0.1 };

  test("meets the stranger target with the fewest known rejections: the largest threshold that does", () => {
    // Known 0.10..0.28, strangers 0.25..0.60: rejecting 90% of strangers needs t < 0.28, which rejects 1 known in 19.
    const known = range(0.1, 0.28, 0.01);
    const strangers = range(0.25, 0.6, 0.01);
    const choice = chooseStrangerThreshold(known, strangers, limits);
    assert.equal(choice.rule, "met-target");
    assert.ok(choice.strangerRejection >= 0.9, `strangers rejected ${choice.strangerRejection}`);
    assert.ok(choice.knownRejection <= 0.1, `known rejected ${choice.knownRejection}`);
    const rates = rejectionRates(known, strangers, choice.maxDistance);
    assert.deepEqual(rates, { strangerRejection: choice.strangerRejection, knownRejection: choice.knownRejection });
    // One step further and the target is missed: the choice is the largest that meets it.
    const further = rejectionRates(known, strangers, choice.maxDistance + 0.01);
    assert.ok((further.strangerRejection as number) < 0.9);
    assert.ok(![...known, ...strangers].includes(choice.maxDistance), "the threshold never sits on a measured distance");
  });

  test("when the target cannot be met within the known limit, the known limit wins and the margin is the best within it", () => {
    const known = range(0.1, 0.5, 0.01);
    const strangers = range(0.2, 0.6, 0.01);
    const choice = chooseStrangerThreshold(known, strangers, limits);
    assert.equal(choice.rule, "known-limit");
    assert.ok(choice.knownRejection <= 0.1);
    for (const threshold of range(0.05, 0.65, 0.005)) {
      const rates = rejectionRates(known, strangers, threshold);
      if ((rates.knownRejection as number) > 0.1) continue;
      assert.ok((rates.strangerRejection as number) - (rates.knownRejection as number) <= choice.strangerRejection - choice.knownRejection + 1e-12, `a better margin at ${threshold}`);
    }
  });

  test("the confident distance rejects its share of strangers and never exceeds the threshold", () => {
    const strangers = range(0.2, 0.6, 0.001);
    const known = range(0.05, 0.25, 0.01);
    const confident = chooseConfidentDistance(known, strangers, 0.995, 0.5);
    assert.ok((rejectionRates([], strangers, confident).strangerRejection as number) >= 0.995);
    assert.ok(confident > 0.2 && confident < 0.2 + 0.003, `${confident}`);
    assert.equal(chooseConfidentDistance(known, strangers, 0, 0.3), 0.3);
    // A threshold that already rejects every stranger is its own confident distance.
    assert.equal(chooseConfidentDistance(known, strangers, 0.995, 0.15), 0.15);
    assert.throws(() => chooseStrangerThreshold([], strangers, limits), /received 0 and 401/);
  });

  test("how many pseudo-strangers, and which: stable, by a hash of the name", () => {
    assert.deepEqual([2, 3, 10, 100, 1000].map((people) => pseudoStrangerCount(people, "auto")), [0, 1, 2, 20, 30]);
    assert.equal(pseudoStrangerCount(5, 10), 3, "a count never leaves fewer than two known people");
    assert.equal(pseudoStrangerCount(5, 0), 0);
    const people = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay"];
    const chosen = choosePseudoStrangers(people, 2);
    assert.equal(chosen.size, 2);
    assert.deepEqual(choosePseudoStrangers([...people].reverse(), 2), chosen, "the order of the input does not matter");
    assert.ok([...choosePseudoStrangers(people, 1)].every((person) => chosen.has(person)), "one more person held out keeps the others");
  });
});

describe("stranger calibration on vectors", () => {
  // Four people on the unit circle's axes in 4-d, each a tight cluster; strangers on other directions.
  const around = (axis: number, spread: number, count: number) =>
    Array.from({ length: count }, (_, index) => {
      const vector = new Float32Array(4);
      vector[axis] = 1;
      vector[(axis + 1) % 4] = spread * ((index % 5) - 2) * 0.1;
      return vector;
    });
  const people = ["Ann", "Bob", "Cid", "Dee"];
  const photos: CalibrationPhoto[] = people.flatMap((label, axis) => [
    ...around(axis, 0.5, 10).map((vector) => ({ vector, label, split: "train" as const })),
    ...around(axis, 0.4, 2).map((vector) => ({ vector, label, split: "test" as const })),
  ]);
  const outsider = (split: "train" | "test"): CalibrationPhoto => ({ vector: Float32Array.from([0.7, 0.7, 0.1, 0]), label: null, split });

  test("holds out one person of four, calibrates on them and the _not/ photos, and records what happened", () => {
    const calibration = calibrateOnStrangers([...photos, outsider("train")], 4, defaultStrangerCalibration);
    assert.ok(calibration);
    assert.equal(calibration.pseudoStrangers, 1);
    assert.equal(calibration.outsiderPhotos, 1);
    assert.equal(calibration.strangerPhotos, 11);
    assert.equal(calibration.knownProbes, 30);
    assert.equal(calibration.rule, "met-target");
    assert.equal(calibration.strangerRejection, 1);
    assert.equal(calibration.knownRejection, 0);
    assert.ok(calibration.confidentDistance <= calibration.maxDistance);
  });

  test("with nobody to hold out and no _not/ photo there is no calibration on strangers", () => {
    const two = photos.filter((photo) => photo.label === "Ann" || photo.label === "Bob");
    assert.equal(calibrateOnStrangers(two, 4, defaultStrangerCalibration), null);
    const settings = { ...defaultStrangerCalibration, maxDistance: "auto" as const, confidentDistance: "auto" as const };
    const references = ReferenceSet.fromVectors(two.filter((photo) => photo.split === "train").map((photo) => photo.vector), two.filter((photo) => photo.split === "train").map((photo) => (photo.label === "Ann" ? 0 : 1)), 4);
    const choice = chooseOpenSet(settings, references, two);
    assert.equal(choice.source, "calibrated");
    assert.equal(choice.confidentSource, "calibrated");
    assert.ok((choice.confidentDistance as number) <= choice.maxDistance);
    assert.equal(choice.calibration, undefined);
    assert.equal(choice.test?.strangerPhotos, 0);
    assert.equal(choice.test?.strangerRejection, null);
    // The quantile rule was measured with the nearest photo, so without strangers the bundle keeps that rule.
    assert.equal(choice.known.rule, "nearest-reference-distance");
  });

  test("calibrated on strangers, the bundle measures by the rule asked for: class means by default, the nearest photo when asked", () => {
    const train = photos.filter((photo) => photo.split === "train");
    const references = ReferenceSet.fromVectors(train.map((photo) => photo.vector), train.map((photo) => people.indexOf(photo.label as string)), 4);
    const settings = { ...defaultStrangerCalibration, maxDistance: "auto" as const, confidentDistance: "auto" as const };
    const choice = chooseOpenSet(settings, references, [...photos, outsider("train")]);
    assert.equal(choice.source, "calibrated-on-strangers");
    assert.equal(choice.known.rule, "nearest-class-mean-distance");
    assert.equal(chooseOpenSet(settings, references, [...photos, outsider("train")], "nearest-reference-distance").known.rule, "nearest-reference-distance");
  });

  test("configured thresholds win; the test split is measured at them", () => {
    const train = photos.filter((photo) => photo.split === "train");
    const references = ReferenceSet.fromVectors(train.map((photo) => photo.vector), train.map((photo) => people.indexOf(photo.label as string)), 4);
    const choice = chooseOpenSet({ ...defaultStrangerCalibration, maxDistance: 0.3, confidentDistance: 0.5 }, references, [...photos, outsider("test")]);
    assert.deepEqual([choice.maxDistance, choice.source, choice.confidentDistance, choice.confidentSource], [0.3, "configured", 0.3, "configured"]);
    assert.equal(choice.known.rule, "nearest-class-mean-distance", "a configured threshold is measured by the rule asked for");
    assert.equal(choice.test?.knownPhotos, 8);
    assert.equal(choice.test?.strangerPhotos, 1, "no pseudo-strangers without calibration: only the _not/ test photo");
    assert.equal(choice.test?.strangerRejection, 1);
  });

  test("serving: off and numbers override the bundle's confident distance, never beyond the threshold", () => {
    const recorded = { rule: "nearest-reference-distance" as const, maxDistance: 0.4, source: "calibrated-on-strangers" as const, references: 1, featureLength: 4, confidentDistance: 0.3 };
    assert.equal(effectiveConfidentDistance("auto", recorded, 0.4), 0.3);
    assert.equal(effectiveConfidentDistance("auto", recorded, 0.25), 0.25);
    assert.equal(effectiveConfidentDistance("off", recorded, 0.4), 0.4);
    assert.equal(effectiveConfidentDistance(0.2, recorded, 0.4), 0.2);
    assert.equal(effectiveConfidentDistance("auto", { ...recorded, confidentDistance: undefined }, 0.4), 0.4, "an older bundle calls every named answer confident");
  });
});
