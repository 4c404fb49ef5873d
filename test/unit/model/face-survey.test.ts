import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FaceBox } from "../../../src/model/face/detector.js";
import { surveyFaces, type SurveyedFace, type SurveyedPhoto } from "../../../src/model/face-survey.js";

/** The face-survey rule on hand-made faces: boxes, embeddings pointing where the test says, sharpness. */

const box = (x: number, side: number): FaceBox => ({ x, y: 20, width: side, height: side, score: 0.9, imageWidth: 500, imageHeight: 250 });
const towards = (...values: number[]) => Float32Array.from(values);
const face = (x: number, side: number, embedding: Float32Array | null, sharpness = 30): SurveyedFace => ({ box: box(x, side), embedding, sharpness });
const photo = (path: string, faces: SurveyedFace[]): SurveyedPhoto => ({ path, person: path.split("/")[0] as string, faces });

describe("surveyFaces", () => {
  // Alice's one-face photos point one way, Bob's another.
  const alice = [photo("Alice/1.jpg", [face(10, 100, towards(1, 0.1, 0))]), photo("Alice/2.jpg", [face(10, 100, towards(0.9, 0, 0.1))])];
  const bob = [photo("Bob/1.jpg", [face(10, 100, towards(0, 1, 0))])];

  test("one face: that face, no warning", () => {
    const survey = surveyFaces([...alice, ...bob], { requireFace: false });
    assert.deepEqual([...survey.chosen], [["Alice/1.jpg", 0], ["Alice/2.jpg", 0], ["Bob/1.jpg", 0]]);
    assert.deepEqual(survey.warnings, []);
    assert.deepEqual(survey.rejected, []);
  });

  test("a photo of Alice that also shows Bob, larger: Alice's face is trained on, and the check says so with its box", () => {
    const both = photo("Alice/with-bob.jpg", [face(260, 140, towards(0.1, 1, 0)), face(20, 90, towards(1, 0, 0.05))]);
    const survey = surveyFaces([...alice, ...bob, both], { requireFace: false });
    assert.equal(survey.chosen.get("Alice/with-bob.jpg"), 1, "the smaller face, Alice's, not the largest");
    assert.deepEqual(survey.warnings, [
      { path: "Alice/with-bob.jpg", reason: "multiple_faces", message: "2 faces: trained on the one most like the person's other photos", box: { x: 20, y: 20, width: 90, height: 90 } },
    ]);
  });

  test("several faces and no one-face photo of the person to compare with: the largest, said so", () => {
    const group = photo("Carol/group.jpg", [face(0, 120, towards(1, 0, 0)), face(200, 80, towards(0, 1, 0))]);
    const survey = surveyFaces([...alice, group], { requireFace: false });
    assert.equal(survey.chosen.get("Carol/group.jpg"), 0);
    assert.match(survey.warnings[0]?.message ?? "", /the largest \(the person has no photo with one face to compare with\)/);
  });

  test("no face: trained on the median box with a warning, or rejected when dataset.requireFace is true", () => {
    const empty = photo("Alice/landscape.jpg", []);
    const lenient = surveyFaces([...alice, empty], { requireFace: false });
    assert.equal(lenient.chosen.get("Alice/landscape.jpg"), null);
    assert.deepEqual(lenient.warnings, [{ path: "Alice/landscape.jpg", reason: "no_face", message: "no face found: trained on the dataset's median face box" }]);
    const strict = surveyFaces([...alice, empty], { requireFace: true });
    assert.deepEqual(strict.warnings, []);
    assert.deepEqual(strict.rejected, [{ path: "Alice/landscape.jpg", reason: "no_face", message: "no face found, and dataset.requireFace is true" }]);
  });

  test("a blurry or small face is trained on, with a low_quality warning naming what was measured", () => {
    const blurry = photo("Bob/blurry.jpg", [face(10, 100, towards(0, 1, 0), 3.2)]);
    const small = photo("Bob/far.jpg", [face(10, 24, towards(0, 1, 0))]);
    const survey = surveyFaces([...bob, blurry, small], { requireFace: false });
    assert.deepEqual(survey.warnings.map((warning) => [warning.path, warning.reason]), [["Bob/blurry.jpg", "low_quality"], ["Bob/far.jpg", "low_quality"]]);
    assert.match(survey.warnings[0]?.message ?? "", /blurry \(sharpness 3\.2, below the minimum of 8\.6\)/);
    assert.match(survey.warnings[1]?.message ?? "", /small \(24 px across, below the minimum of 40 px\)/);
    assert.equal(survey.chosen.get("Bob/blurry.jpg"), 0);
  });

  test("a face both small and blurry is reported as small alone: its size is why it reads as blurry", () => {
    const tiny = photo("Bob/tiny.jpg", [face(10, 24, towards(0, 1, 0), 2.1)]);
    const [warning] = surveyFaces([...bob, tiny], { requireFace: false }).warnings;
    assert.equal(warning?.reason, "low_quality");
    assert.match(warning?.message ?? "", /small \(24 px across/);
    assert.doesNotMatch(warning?.message ?? "", /blurry/);
  });

  test("several faces need their embeddings to be compared", () => {
    const unembedded = photo("Alice/pair.jpg", [face(0, 120, null), face(200, 80, null)]);
    assert.throws(() => surveyFaces([...alice, unembedded], { requireFace: false }), /Alice\/pair\.jpg: face 1 of 2 has no embedding/);
  });
});
