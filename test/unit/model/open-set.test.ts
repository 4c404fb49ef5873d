import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { calibrationQuantile, chooseMaxDistance, ClassMeans, effectiveMaxDistance, knownFaces, largestDistance, openSetRule, quantile, ReferenceSet, unitLength } from "../../../src/model/open-set.js";

const vector = (...values: number[]) => Float32Array.from(values);

describe("open set", () => {
  const references = ReferenceSet.fromVectors([vector(1, 0, 0), vector(0.9, 0.1, 0), vector(0, 3, 0), vector(0, 2, 0.2)], [0, 0, 1, 1], 3);

  test("the nearest reference by Euclidean distance between unit vectors, whatever the input's length", () => {
    const near = references.nearest(vector(5, 0, 0));
    assert.deepEqual([near.index, near.label], [0, 0]);
    assert.ok(near.distance < 1e-6);
    const between = references.nearest(vector(0, 0, 1));
    assert.equal(between.label, 1);
    // Orthogonal to (0, 0.995, 0.0995) normalised: |a - b| = sqrt(2 - 2 cos).
    assert.ok(Math.abs(between.distance - Math.sqrt(2 - 2 * (0.2 / Math.hypot(2, 0.2)))) < 1e-6);
    assert.equal(references.nearest(vector(1, 0, 0), 0).index, 1, "excluding a reference finds the next");
  });

  test("same-person leave-one-out distances skip other people", () => {
    const distances = references.sameLabelDistances();
    assert.equal(distances.length, 4);
    const within0 = Math.hypot(1 - 0.9 / Math.hypot(0.9, 0.1), 0.1 / Math.hypot(0.9, 0.1));
    assert.ok(Math.abs((distances[0] as number) - within0) < 1e-6);
    assert.ok(distances.every((distance) => distance < 0.2), "never the distance to the other person");
  });

  test("bytes round trip, and a damaged file is refused with what is wrong", () => {
    const bytes = references.toBytes();
    const back = ReferenceSet.fromBytes(bytes, 3, 2);
    assert.deepEqual(Array.from(back.labels), [0, 0, 1, 1]);
    assert.deepEqual(Array.from(back.vectors), Array.from(references.vectors));
    assert.throws(() => ReferenceSet.fromBytes(bytes.subarray(0, bytes.length - 4), 3, 2), /expected 68 for 4 references of 3 features/);
    assert.throws(() => ReferenceSet.fromBytes(bytes, 3, 1), /reference 2 has label index 1, outside 0\.\.0/);
    assert.throws(() => ReferenceSet.fromVectors([vector(1, 0)], [0], 3), /reference 0 has 2 features, expected 3/);
  });

  test("the threshold: configured, or calibrated on the references", () => {
    assert.deepEqual(chooseMaxDistance(0.42, references), { maxDistance: 0.42, source: "configured" });
    assert.deepEqual(chooseMaxDistance("off", references), { maxDistance: largestDistance, source: "configured" });
    const calibrated = chooseMaxDistance("auto", references);
    assert.deepEqual(calibrated, { maxDistance: quantile(references.sameLabelDistances(), calibrationQuantile), source: "calibrated", quantile: calibrationQuantile });
    const lonely = ReferenceSet.fromVectors([vector(1, 0), vector(0, 1)], [0, 1], 2);
    assert.equal(chooseMaxDistance("auto", lonely).maxDistance, largestDistance, "nothing to calibrate on: reject nobody");
    const recorded = { rule: "nearest-reference-distance" as const, maxDistance: 0.5, source: "calibrated" as const, references: 4, featureLength: 3 };
    assert.equal(effectiveMaxDistance("auto", recorded), 0.5);
    assert.equal(effectiveMaxDistance(0.3, recorded), 0.3);
    assert.equal(effectiveMaxDistance("off", recorded), largestDistance);
    assert.equal(effectiveMaxDistance("auto", undefined), largestDistance);
  });

  test("quantile interpolates between order statistics; unit length leaves zero vectors alone", () => {
    assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
    assert.equal(quantile([5], 0.95), 5);
    assert.throws(() => quantile([], 0.5), /no values/);
    assert.deepEqual(Array.from(unitLength(vector(0, 0))), [0, 0]);
    assert.deepEqual(Array.from(unitLength(vector(3, 4))).map((value) => Math.round(value * 1e6) / 1e6), [0.6, 0.8]);
  });

  describe("class means (the default rule)", () => {
    /*
     * Person 0: three photos around (1, 0, 0) and one odd photo at (0, 0.2, 1) (a profile, a
     * mislabelled face). Person 1: two photos around (0, 1, 0). A stranger at (0, 0.1, 1) lies right
     * beside the odd photo.
     */
    const odd = ReferenceSet.fromVectors(
      [vector(1, 0, 0), vector(0.95, 0.05, 0), vector(0.95, -0.05, 0), vector(0, 0.2, 1), vector(0, 1, 0), vector(0.05, 1, 0)],
      [0, 0, 0, 0, 1, 1],
      3,
    );
    const means = new ClassMeans(odd);
    const stranger = vector(0, 0.1, 1);
    const unit = (values: number[]) => unitLength(Float32Array.from(values));
    const distanceTo = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((sum, value, index) => sum + (value - (b[index] as number)) ** 2, 0));
    const sumOf = (indices: number[]) => [0, 1, 2].map((feature) => indices.reduce((sum, index) => sum + (odd.vectors[index * 3 + feature] as number), 0));

    test("a stranger beside one odd training photo is near that photo but far from every person's mean", () => {
      assert.ok(odd.nearest(stranger).distance < 0.11, "the nearest-photo rule lets the stranger in");
      const nearest = means.nearest(stranger);
      assert.equal(nearest.label, 0);
      assert.ok(Math.abs(nearest.distance - distanceTo(unit([0, 0.1, 1]), unit(sumOf([0, 1, 2, 3])))) < 1e-6);
      assert.ok(nearest.distance > 0.9, `the stranger is ${nearest.distance} from person 0's mean`);
      assert.equal(means.size, 2);
    });

    test("leaving a photo out takes it out of its person's mean; a person left with no photo is skipped", () => {
      const left = means.nearest(odd.vectors.subarray(9, 12), 3);
      assert.ok(Math.abs(left.distance - Math.min(distanceTo(unit([0, 0.2, 1]), unit(sumOf([0, 1, 2]))), distanceTo(unit([0, 0.2, 1]), unit(sumOf([4, 5]))))) < 1e-6);
      const lonely = new ClassMeans(ReferenceSet.fromVectors([vector(1, 0), vector(0, 1)], [0, 1], 2));
      assert.deepEqual(lonely.nearest(vector(1, 0), 0).label, 1, "person 0's only photo left out: the nearest is person 1");
      assert.deepEqual(lonely.sameLabelDistances(), [], "nobody has two photos");
    });

    test("same-person leave-one-out distances are to the person's mean without the photo", () => {
      const distances = means.sameLabelDistances();
      assert.equal(distances.length, 6);
      assert.ok(Math.abs((distances[3] as number) - distanceTo(unit([0, 0.2, 1]), unit(sumOf([0, 1, 2])))) < 1e-6);
      assert.ok(Math.abs((distances[4] as number) - distanceTo(unit([0, 1, 0]), unit(sumOf([5])))) < 1e-6);
    });

    test("the configuration's names map to the rules, and knownFaces builds the one asked for", () => {
      assert.equal(openSetRule("class-mean"), "nearest-class-mean-distance");
      assert.equal(openSetRule("nearest-photo"), "nearest-reference-distance");
      assert.equal(knownFaces(odd, "nearest-reference-distance"), odd);
      assert.equal(knownFaces(odd, "nearest-class-mean-distance").rule, "nearest-class-mean-distance");
    });
  });
});
