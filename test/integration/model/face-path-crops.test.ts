import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { silentLogger } from "../../../src/log.js";
import { prepareFaces, type PreparedFaces } from "../../../src/model/face-path/prepare.js";
import type { FacePathCrop } from "../../../src/model/face-path/protocol.js";
import { facePathRegistry, type FacePathLease } from "../../../src/model/face-path/registry.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/**
 * One face-path pool serves versions that crop differently: each prepare task brings its own
 * bundle's crop and input side (protocol.ts), so two versions with the same nets (here: no
 * detector, no embedding, as for a centre-cropped bundle whose backbone runs elsewhere) share
 * the threads and each photo is still cut the way its own version's training cut it, pixel for
 * pixel as on the calling thread.
 *
 * The crop's median box is sent with each task too; it is the fallback for a photo in which the
 * detector finds no face, and the service answers such a photo "no_face" without cropping it
 * (prepare.ts), so no served crop depends on it.
 */

const maxPixels = 40_000_000;

describe("crops per task on a shared face-path pool", () => {
  const registry = facePathRegistry(silentLogger());
  let first: FacePathLease;
  let second: FacePathLease;
  const photos: Buffer[] = [];

  before(async () => {
    // Two versions with the same load: one pool.
    first = await registry.acquire({ size: 1, tfEngine: undefined, maxPixels, detector: null, embedding: null });
    second = await registry.acquire({ size: 1, tfEngine: undefined, maxPixels, detector: null, embedding: null });
    photos.push(readFileSync(lfwPhotos("Hugo_Chavez")[20] as string));
    // Wide, with no face: centring and padding cut it very differently.
    photos.push(await sharp({ create: { width: 300, height: 120, channels: 3, background: "#6a8" } }).composite([{ input: { create: { width: 40, height: 120, channels: 3, background: "#123" } }, left: 0, top: 0 }]).jpeg().toBuffer());
  });
  after(async () => {
    await first?.release();
    await second?.release();
    await registry.close();
  });

  test("two versions on one pool: each photo is cut by its own version's crop and input side, as on the calling thread", async () => {
    assert.equal(second.workers, first.workers, "the versions share the pool");
    assert.equal(registry.starts, 1);
    const centred: FacePathCrop = { crop: { mode: "center", medianBox: null }, inputSize: 150 };
    const padded: FacePathCrop = { crop: { mode: "none", medianBox: { x: 0.2, y: 0.1, width: 0.5, height: 0.6 } }, inputSize: 112 };
    for (const photo of photos) {
      // Interleaved, as the requests of two versions in service are during a swap.
      const [a, b] = await Promise.all([first.workers.prepare(photo, centred), second.workers.prepare(photo, padded)]);
      assertSameCrop(a, await prepareFaces(photo, { ...centred, detector: null, maxPixels }), "center");
      assertSameCrop(b, await prepareFaces(photo, { ...padded, detector: null, maxPixels }), "none");
      assert.ok(!Buffer.from(a.faces[0]?.image?.data ?? []).equals(Buffer.from(b.faces[0]?.image?.data ?? [])), "the two crops differ");
    }
  });

  test("a face crop on a pool without the face detector is refused, not answered as a photo without faces", async () => {
    await assert.rejects(first.workers.prepare(photos[0] as Buffer, { crop: { mode: "face", medianBox: null }, inputSize: 150 }), /without the face detector, which crop mode "face" needs/);
  });
});

function assertSameCrop(there: PreparedFaces, here: PreparedFaces, mode: string): void {
  assert.equal(there.crop, mode);
  assert.equal(here.crop, mode);
  assert.deepEqual([there.width, there.height, there.facesFound, there.faces.length], [here.width, here.height, here.facesFound, here.faces.length]);
  const [mine, theirs] = [here.faces[0]?.image, there.faces[0]?.image];
  assert.ok(mine && theirs, "the whole photo is the one crop");
  assert.deepEqual([theirs.width, theirs.height], [mine.width, mine.height]);
  assert.ok(Buffer.from(theirs.data).equals(Buffer.from(mine.data)), `the ${mode} crop's pixels are identical`);
}
