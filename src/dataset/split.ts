import { createHash } from "node:crypto";
import { compareText } from "./scan.js";

/**
 * Train/test assignment that never moves a photo. Each photo draws a number in [0, 1) from its
 * content hash and is a test photo when the number is below the test fraction: adding or removing
 * other photos cannot change that draw, and identical photos draw the same number.
 *
 * Two guarantees need more than the draw: every label with enough photos has at least one test
 * photo, and every label keeps at least one training photo. Where the draw breaks one, a photo is
 * moved, preferring a photo seen for the first time, and the outcome is remembered in a ledger
 * (`previous`), so a photo assigned once keeps its split in every later commit. The only moves the
 * ledger cannot prevent are the ones a removal forces: when a label's last test photo (or last
 * training photo) is deleted, another photo must take its place.
 */

export type Split = "train" | "test";

export interface SplitInput {
  sha256: string;
  label: string;
}

export interface SplitOptions {
  testFraction: number;
  /** Labels with at least this many photos get at least one test photo. */
  minPhotosForTest: number;
}

export const defaultMinPhotosForTest = 5;

/** The photo's draw in [0, 1): 52 bits of a salted hash of its content hash. */
export function splitDraw(sha256: string): number {
  const digest = createHash("sha256").update(`faceops/split/v1\0${sha256}`).digest();
  return (digest.readUInt32BE(0) * 2 ** 20 + (digest.readUInt32BE(4) >>> 12)) / 2 ** 52;
}

export function assignSplits(
  photos: readonly SplitInput[],
  options: SplitOptions,
  previous: ReadonlyMap<string, Split> = new Map(),
): Map<string, Split> {
  const assigned = new Map<string, Split>();
  const byLabel = new Map<string, SplitInput[]>();
  for (const photo of photos) {
    assigned.set(photo.sha256, previous.get(photo.sha256) ?? (splitDraw(photo.sha256) < options.testFraction ? "test" : "train"));
    const group = byLabel.get(photo.label);
    if (group) group.push(photo);
    else byLabel.set(photo.label, [photo]);
  }
  for (const label of [...byLabel.keys()].sort(compareText)) {
    const group = byLabel.get(label) as SplitInput[];
    const tests = group.filter((photo) => assigned.get(photo.sha256) === "test");
    if (tests.length === 0 && group.length >= options.minPhotosForTest) {
      // The photo whose draw came closest to the threshold, among new photos first.
      const chosen = pick(group, previous, (a, b) => splitDraw(a.sha256) - splitDraw(b.sha256));
      assigned.set(chosen.sha256, "test");
    } else if (tests.length === group.length && group.length > 1) {
      const chosen = pick(group, previous, (a, b) => splitDraw(b.sha256) - splitDraw(a.sha256));
      assigned.set(chosen.sha256, "train");
    }
  }
  return assigned;
}

function pick(group: readonly SplitInput[], previous: ReadonlyMap<string, Split>, order: (a: SplitInput, b: SplitInput) => number): SplitInput {
  const unseen = group.filter((photo) => !previous.has(photo.sha256));
  const candidates = unseen.length > 0 ? unseen : group;
  return [...candidates].sort((a, b) => order(a, b) || compareText(a.sha256, b.sha256))[0] as SplitInput;
}
