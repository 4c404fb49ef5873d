import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import sharp from "sharp";
import { silentLogger } from "../../../src/log.js";
import { Predictor } from "../../../src/model/predictor.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { ImageDecodeError } from "../../../src/vision/decode.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo, fastVgg16, trainBundle, type TrainedBundle } from "../../helpers/training.js";

/**
 * The face path in worker threads (src/model/face-path/) against the same path on the calling
 * thread, on a real face-embedding bundle: the same crops and the same answers, bad photos refused
 * with the same error class and code, the uploads moved rather than copied, one engine line per
 * worker, and no thread left once the model is disposed.
 */

const people = ["Hugo_Chavez", "Serena_Williams"];

function threadCount(): number {
  return readdirSync("/proc/self/task").length;
}

describe("face-path workers", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 8);
  const bundle = join(folder.path, "bundle");
  let trained: TrainedBundle;
  let inThread: Predictor;

  before(async () => {
    trained = await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
    inThread = await Predictor.load(bundle, { config: trained.config, log: silentLogger() });
  });
  after(async () => {
    await inThread?.dispose();
    repo.dispose();
    folder.dispose();
  });

  test("the same crops and the same answers as on the calling thread; one engine line per worker; every thread ended on dispose", async () => {
    const photos = [
      ...people.flatMap((person) => lfwPhotos(person).slice(20, 23)).map((path) => readFileSync(path)),
      // No face to find: answered "no_face" in both (the median box is a fallback of training only).
      await sharp({ create: { width: 300, height: 200, channels: 3, background: "#6a8" } }).jpeg().toBuffer(),
      // A PGM, decoded by faceops' own reader, in the worker too.
      await sharp(readFileSync(lfwPhotos("Serena_Williams")[24] as string)).grayscale().raw().toBuffer({ resolveWithObject: true }).then(({ data, info }) => Buffer.concat([Buffer.from(`P5\n${info.width} ${info.height}\n255\n`), data])),
    ];
    const lines: string[] = [];
    const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString("utf8")), done()) }));
    const before = threadCount();
    const pooled = await Predictor.load(bundle, { config: trained.config, log, workers: 2 });
    try {
      assert.ok(threadCount() >= before + 2, "two worker threads run");
      for (const photo of photos) {
        const here = await inThread.prepare(photo);
        const there = await pooled.prepare(photo);
        assert.equal(there.crop, here.crop);
        assert.deepEqual([there.width, there.height, there.facesFound], [here.width, here.height, here.facesFound]);
        assert.equal(there.faces.length, here.faces.length);
        there.faces.forEach((face, index) => {
          const mine = here.faces[index];
          assert.deepEqual([face.box, face.detectionScore], [mine?.box, mine?.detectionScore]);
          assert.ok(face.image && mine?.image && Buffer.from(face.image.data).equals(Buffer.from(mine.image.data)), "the crop's pixels are identical");
        });
      }
      const expected = await inThread.predict(photos, 2);
      const answered = await pooled.predict(photos, 2);
      assert.deepEqual(
        answered.map((prediction) => prediction.crop),
        expected.map((prediction) => prediction.crop),
      );
      assert.ok(expected.some((prediction) => prediction.label === "no_face" && prediction.facesFound === 0 && prediction.faces.length === 0), "the photo without a face is answered no_face");
      answered.forEach((prediction, index) => {
        const reference = expected[index];
        assert.equal(prediction.label, reference?.label);
        assert.deepEqual(Array.from(prediction.probabilities), Array.from(reference?.probabilities ?? []), `photo ${index}: the same probabilities`);
        assert.equal(prediction.distance, reference?.distance);
      });
      const ready = lines.filter((line) => /"msg":"face-path worker ready"/.test(line)).map((line) => JSON.parse(line) as { worker: number; engine: string });
      assert.deepEqual(ready.map((line) => line.worker).sort(), [0, 1], "one line per worker");
      for (const line of ready) assert.match(line.engine, /^tfjs-/, "it names the engine");
    } finally {
      await pooled.dispose();
    }
    assert.equal(threadCount(), before, "no worker thread is left after dispose");
  });

  test("a VGG16 bundle with face crops: the workers decode, detect and crop, onnxruntime embeds, the answers are the same", async () => {
    const vggBundle = join(folder.path, "vgg16-face");
    const vgg = await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { ...fastVgg16, "model.crop": "face" }, vggBundle);
    const photos = people.flatMap((person) => lfwPhotos(person).slice(20, 22)).map((path) => readFileSync(path));
    const here = await Predictor.load(vggBundle, { config: vgg.config, log: silentLogger() });
    const pooled = await Predictor.load(vggBundle, { config: vgg.config, log: silentLogger(), workers: 2 });
    try {
      const expected = await here.predict(photos);
      const answered = await pooled.predict(photos);
      assert.deepEqual(
        answered.map((prediction) => [prediction.crop, prediction.label]),
        expected.map((prediction) => [prediction.crop, prediction.label]),
      );
      answered.forEach((prediction, index) => assert.deepEqual(Array.from(prediction.probabilities), Array.from(expected[index]?.probabilities ?? [])));
    } finally {
      await pooled.dispose();
      await here.dispose();
    }
  });

  test("a bad photo is refused from the worker as ImageDecodeError with its code; uploads are moved, other bytes copied", async () => {
    const pooled = await Predictor.load(bundle, { config: trained.config, log: silentLogger(), workers: 1 });
    try {
      const refusal = async (bytes: Uint8Array, options: { maxPixels?: number } = {}) =>
        pooled.prepare(bytes, options).then(
          () => assert.fail("the photo should have been refused"),
          (error: unknown) => error,
        );
      const garbage = await refusal(Buffer.from("this is not a photo at all, only some words"));
      assert.ok(garbage instanceof ImageDecodeError, String(garbage));
      assert.equal(garbage.code, "not_an_image");
      const large = await refusal(await sharp({ create: { width: 1200, height: 1000, channels: 3, background: "#000" } }).png().toBuffer(), { maxPixels: 1_000_000 });
      assert.ok(large instanceof ImageDecodeError, String(large));
      assert.equal(large.code, "too_large");
      assert.match(large.message, /1200x1000/);

      const photo = readFileSync(lfwPhotos("Hugo_Chavez")[20] as string);
      const kept = new Uint8Array(photo);
      await pooled.prepare(kept);
      assert.equal(kept.length, photo.length, "without handOver the caller keeps its bytes");
      const given = new Uint8Array(photo);
      await pooled.prepare(given, { handOver: true });
      assert.equal(given.length, 0, "handed over, the bytes were moved to the worker, not copied");
    } finally {
      await pooled.dispose();
    }
  });
});
