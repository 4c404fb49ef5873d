import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluate, nearestClassMeanAccuracy, rankLabels } from "../../../src/model/evaluate.js";

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

test("evaluate: accuracy, balanced accuracy, top-3, loss, confusion and per-label metrics by hand", () => {
  const labels = ["ann", "bob", "cat", "dan"];
  // Six test photos: ann x3, bob x2, cat x1 (dan has none).
  const actual = [0, 0, 0, 1, 1, 2];
  const rows = [
    [0.7, 0.1, 0.1, 0.1], // ann -> ann
    [0.6, 0.2, 0.1, 0.1], // ann -> ann
    [0.1, 0.5, 0.3, 0.1], // ann -> bob (ann 3rd: still top-3)
    [0.2, 0.6, 0.1, 0.1], // bob -> bob
    [0.5, 0.04, 0.06, 0.4], // bob -> ann (bob last: not top-3)
    [0.1, 0.1, 0.7, 0.1], // cat -> cat
  ];
  const result = evaluate(labels, actual, rows);
  close(result.accuracy, 4 / 6, "accuracy");
  close(result.balancedAccuracy, (2 / 3 + 1 / 2 + 1) / 3, "balanced accuracy over labels with test photos");
  close(result.top3Accuracy, 5 / 6, "top-3");
  close(result.loss, -(Math.log(0.7) + Math.log(0.6) + Math.log(0.1) + Math.log(0.6) + Math.log(0.04) + Math.log(0.7)) / 6, "loss");
  assert.deepEqual(result.confusion, [
    [2, 1, 0, 0],
    [1, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 0],
  ]);
  const ann = result.perLabel[0];
  close(ann?.precision ?? -1, 2 / 3, "ann precision");
  close(ann?.recall ?? -1, 2 / 3, "ann recall");
  close(ann?.f1 ?? -1, 2 / 3, "ann f1");
  assert.equal(ann?.support, 3);
  assert.deepEqual(result.perLabel[3], { label: "dan", precision: 0, recall: 0, f1: 0, support: 0 });
});

test("evaluate refuses rows that do not fit the labels", () => {
  assert.throws(() => evaluate(["a", "b"], [0], [[0.5, 0.3, 0.2]]), /sample 0 has 3 probabilities for 2 labels/);
  assert.throws(() => evaluate(["a", "b"], [2], [[0.5, 0.5]]), /label index 2, outside 0..1/);
  assert.throws(() => evaluate(["a"], [0, 0], [[1]]), /2 labels, 1 rows/);
});

test("rankLabels breaks ties by the lower index", () => {
  assert.deepEqual(rankLabels([0.2, 0.5, 0.5, 0.1]), [1, 2, 0, 3]);
});

test("nearest class mean classifies by the closest normalised class mean", () => {
  const v = (...values: number[]) => Float32Array.from(values);
  const train = [
    { label: 0, features: v(1, 0) },
    { label: 0, features: v(10, 1) },
    { label: 1, features: v(0, 1) },
    { label: 1, features: v(0.1, 5) },
  ];
  const test = [
    { label: 0, features: v(3, 0.5) },
    { label: 1, features: v(0.2, 2) },
    { label: 1, features: v(5, 0.1) }, // closer to class 0: a miss
  ];
  close(nearestClassMeanAccuracy(train, test, 2), 2 / 3, "ncm accuracy");
});
