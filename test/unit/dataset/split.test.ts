import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { assignSplits, splitDraw, type Split } from "../../../src/dataset/split.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const photosOf = (label: string, count: number, offset = 0) =>
  Array.from({ length: count }, (_, index) => ({ sha256: sha(`${label}-${index + offset}`), label }));
const options = { testFraction: 0.2, minPhotosForTest: 5 };

function countTests(assigned: Map<string, Split>, photos: { sha256: string }[]): number {
  return photos.filter((photo) => assigned.get(photo.sha256) === "test").length;
}

describe("assignSplits", () => {
  test("the draw is uniform enough: about the test fraction of 20,000 photos is held out", () => {
    const photos = photosOf("everyone", 20_000);
    const share = countTests(assignSplits(photos, options), photos) / photos.length;
    assert.ok(share > 0.19 && share < 0.21, `test share ${share}`);
  });

  test("the draw depends on the content only", () => {
    assert.equal(splitDraw(sha("a")), splitDraw(sha("a")));
    assert.notEqual(splitDraw(sha("a")), splitDraw(sha("b")));
    const value = splitDraw(sha("a"));
    assert.ok(value >= 0 && value < 1);
  });

  test("every label with at least 5 photos has a test photo, and every label keeps a training photo", () => {
    const photos = Array.from({ length: 300 }, (_, label) => photosOf(`person${label}`, 2 + (label % 9))).flat();
    const assigned = assignSplits(photos, options);
    for (let label = 0; label < 300; label++) {
      const group = photos.filter((photo) => photo.label === `person${label}`);
      const tests = countTests(assigned, group);
      if (group.length >= 5) assert.ok(tests >= 1, `person${label} with ${group.length} photos has no test photo`);
      assert.ok(tests < group.length, `person${label} has no training photo`);
    }
  });

  test("adding and removing photos never moves another photo, given the ledger", () => {
    let ledger = new Map<string, Split>();
    let photos = Array.from({ length: 60 }, (_, label) => photosOf(`p${label}`, 5 + (label % 4))).flat();
    for (let round = 0; round < 20; round++) {
      const assigned = assignSplits(photos, options, ledger);
      for (const [key, split] of ledger) {
        if (assigned.has(key)) assert.equal(assigned.get(key), split, `round ${round}: a photo moved`);
      }
      ledger = new Map([...ledger, ...[...assigned].filter(([key]) => !ledger.has(key))]);
      // Add a few photos to one label; remove a photo from another, as long as its label keeps a
      // photo of each split (taking a label's last test photo forces a move: tested below).
      photos = photos.concat(photosOf(`p${round % 60}`, 3, 100 + round * 3));
      const keepsBothSplits = (victim: { sha256: string; label: string }) => {
        const rest = photos.filter((photo) => photo.label === victim.label && photo !== victim);
        return rest.some((photo) => assigned.get(photo.sha256) === "test") && rest.some((photo) => assigned.get(photo.sha256) === "train");
      };
      const victims = photos.filter((photo, index) => index % 11 === round % 11 && keepsBothSplits(photo)).slice(0, 3);
      assert.ok(victims.length > 0);
      photos = photos.filter((photo) => !victims.includes(photo));
    }
  });

  test("without a ledger a label's natural test photos never move either", () => {
    const before = photosOf("x", 40);
    const after = before.slice(5).concat(photosOf("x", 20, 1000));
    const first = assignSplits(before, options);
    const second = assignSplits(after, options);
    for (const photo of after.slice(0, 35)) {
      if (splitDraw(photo.sha256) < options.testFraction) assert.equal(second.get(photo.sha256), "test");
      assert.equal(second.get(photo.sha256), first.get(photo.sha256));
    }
  });

  test("a label whose draws give no test photo gets one, preferring a photo not seen before", () => {
    // Find five photos whose draws are all above the fraction, then a sixth new one.
    const all = photosOf("y", 200).filter((photo) => splitDraw(photo.sha256) >= 0.2);
    const old = all.slice(0, 5);
    const fresh = all[5] as { sha256: string; label: string };
    const ledger = new Map<string, Split>(old.map((photo) => [photo.sha256, "train"]));
    const assigned = assignSplits([...old, fresh], options, ledger);
    assert.equal(assigned.get(fresh.sha256), "test");
    for (const photo of old) assert.equal(assigned.get(photo.sha256), "train");
  });

  test("removing a label's only test photo forces a new one (the one move the ledger cannot prevent)", () => {
    const candidates = photosOf("z", 200);
    const onlyTest = candidates.find((photo) => splitDraw(photo.sha256) < 0.2) as { sha256: string; label: string };
    const others = candidates.filter((photo) => splitDraw(photo.sha256) >= 0.2).slice(0, 7);
    const first = assignSplits([onlyTest, ...others], options);
    assert.equal(first.get(onlyTest.sha256), "test");
    assert.equal(countTests(first, others), 0);
    const second = assignSplits(others, options, first);
    assert.equal(countTests(second, others), 1);
  });
});
