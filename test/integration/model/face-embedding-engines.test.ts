import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createLogger, silentLogger } from "../../../src/log.js";
import { createFaceEmbeddingBackbone } from "../../../src/model/backbones/face-embedding.js";
import { createOnnxFaceNet } from "../../../src/model/backbones/face-embedding-onnx/engine.js";
import { readTfjsWeights } from "../../../src/model/backbones/face-embedding-onnx/weights.js";
import type { Backbone } from "../../../src/model/backbones/types.js";
import { loadFaceApi } from "../../../src/model/face/face-api.js";
import { facePathEmbedding, FacePathWorkers } from "../../../src/model/face-path/workers.js";
import { decodeImage } from "../../../src/vision/decode.js";
import { createRgbImage, type RgbImage } from "../../../src/vision/image.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/**
 * face-api's face recognition net on its two engines (integration tier: onnxruntime starts
 * threads). onnxruntime runs a graph built from face-api's weights (face-embedding-onnx/); its
 * descriptors must be TensorFlow.js's to within float rounding, which is what lets both engines
 * share one fingerprint and so one feature cache.
 */

/** The largest component difference that lets the engines share a fingerprint (bench: 2.8e-7 over 200 crops). */
const sharedFingerprintTolerance = 1e-5;
const log = silentLogger();
const crops: RgbImage[] = [];

/** The middle 150x150 of an LFW photo, where LFW centres the face. */
function middleCrop(photo: RgbImage): RgbImage {
  const side = 150;
  const left = Math.floor((photo.width - side) / 2);
  const top = Math.floor((photo.height - side) / 2);
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) data.set(photo.data.subarray(((top + y) * photo.width + left) * 3, ((top + y) * photo.width + left + side) * 3), y * side * 3);
  return createRgbImage(side, side, data);
}

function largestDifference(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  assert.equal(a.length, b.length);
  let largest = 0;
  a.forEach((vector, index) => vector.forEach((value, position) => (largest = Math.max(largest, Math.abs(value - ((b[index] as Float32Array)[position] as number))))));
  return largest;
}

before(async () => {
  for (const person of ["Colin_Powell", "Serena_Williams", "Junichiro_Koizumi"]) {
    for (const path of lfwPhotos(person).slice(0, 3)) crops.push(middleCrop(await decodeImage(await readFile(path), { maxPixels: 10_000_000 })));
  }
});

describe("the face embedding on onnxruntime and on TensorFlow.js", () => {
  const built: Backbone[] = [];
  after(async () => {
    for (const backbone of built) await backbone.dispose();
  });

  for (const mirror of [false, true]) {
    const id = mirror ? "face-embedding-mirrored" : "face-embedding";
    test(`${id}: the same descriptors for real LFW crops (largest component difference <= ${sharedFingerprintTolerance}), so the same fingerprint`, async () => {
      const onnx = await createFaceEmbeddingBackbone({ log, mirror, engine: "onnxruntime", batchSize: 4 });
      built.push(onnx);
      const tfjs = await createFaceEmbeddingBackbone({ log, mirror, engine: "tfjs", batchSize: 4 });
      built.push(tfjs);
      assert.equal(onnx.engine, "onnxruntime-cpu");
      assert.match(tfjs.engine, /^tfjs-/);
      const fromOnnx = await onnx.embed(crops);
      const fromTfjs = await tfjs.embed(crops);
      const difference = largestDifference(fromOnnx, fromTfjs);
      assert.ok(difference <= sharedFingerprintTolerance, `largest component difference ${difference.toExponential(2)}`);
      // A shared fingerprint is only right while the descriptors agree this closely.
      assert.equal(onnx.fingerprint, tfjs.fingerprint);
      assert.equal(onnx.forwardPasses, crops.length);
      for (const vector of fromOnnx) assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-5, "unit length");
    });
  }

  test("auto picks onnxruntime off a GPU", async () => {
    const auto = await createFaceEmbeddingBackbone({ log });
    built.push(auto);
    assert.equal(auto.engine, "onnxruntime-cpu");
  });

  test("auto falls back to TensorFlow.js, with a warning, when onnxruntime cannot start; a forced onnxruntime fails naming why", async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
    const recording = createLogger({ level: "warn", format: "json", destination: stream });
    const cannotLoad = () => Promise.reject(new Error("onnxruntime_binding.node: cannot open shared object file"));
    const fallback = await createFaceEmbeddingBackbone({ log: recording, startOnnx: cannotLoad });
    built.push(fallback);
    assert.match(fallback.engine, /^tfjs-/);
    const [descriptor] = await fallback.embed([crops[0] as RgbImage]);
    assert.equal(descriptor?.length, 128);
    assert.ok(lines.some((line) => /onnxruntime could not start/.test(line) && /cannot open shared object file/.test(line)), lines.join("\n"));
    await assert.rejects(createFaceEmbeddingBackbone({ log, engine: "onnxruntime", startOnnx: cannotLoad }), /cannot open shared object file/);
  });

  test("invalid options name the value", async () => {
    await assert.rejects(createFaceEmbeddingBackbone({ log, engine: "gpu" as "auto" }), /received "gpu"/);
    await assert.rejects(createFaceEmbeddingBackbone({ log, intraOpThreads: 0 }), /intra-op threads must be a positive integer, received 0/);
  });
});

describe("the face embedding in a face-path worker", () => {
  for (const tfEngine of [undefined, "tfjs-wasm"] as const) {
    test(`with engine ${tfEngine ?? "auto"}: runs on ${tfEngine ?? "onnxruntime"}, with the descriptors of the main thread's backbone`, async () => {
      const workers = await FacePathWorkers.start({
        size: 1,
        tfEngine,
        maxPixels: 10_000_000,
        detector: null,
        embedding: facePathEmbedding("face-embedding-mirrored", 4),
        log,
      });
      const here = await createFaceEmbeddingBackbone({ log, mirror: true, engine: "tfjs" });
      try {
        assert.ok(workers.backbone);
        assert.equal(workers.backbone.engine, tfEngine ?? "onnxruntime-cpu");
        assert.equal(workers.backbone.fingerprint, here.fingerprint);
        assert.ok(largestDifference(await workers.backbone.embed(crops.slice(0, 3)), await here.embed(crops.slice(0, 3))) <= sharedFingerprintTolerance);
      } finally {
        await here.dispose();
        await workers.dispose();
      }
    });
  }
});

describe("the onnxruntime face recognition net", () => {
  test("on the main thread: every core, in a session thread of its own; one thread on the caller's when asked", async () => {
    const { modelDir } = await loadFaceApi();
    const defaults = await createOnnxFaceNet({ modelDir });
    const single = await createOnnxFaceNet({ modelDir, intraOpThreads: 1, sessionThread: "caller" });
    try {
      assert.deepEqual([defaults.intraOpThreads, defaults.sessionThread], [availableParallelism(), "own"]);
      assert.deepEqual([single.intraOpThreads, single.sessionThread], [1, "caller"]);
      const [a, b] = [await defaults.describe(crops.slice(0, 2), true), await single.describe(crops.slice(0, 2), true)];
      assert.equal(a.length, 4, "two crops, then their two mirrors");
      assert.ok(largestDifference(a, b) < 1e-5);
    } finally {
      await defaults.dispose();
      await single.dispose();
    }
  });

  test("reads face-api's weights as TensorFlow.js dequantises them, and names a missing manifest", async () => {
    const faceApi = await loadFaceApi();
    const weights = await readTfjsWeights(faceApi.modelDir, "face_recognition_model");
    const fc = weights.get("fc");
    assert.deepEqual(fc?.shape, [256, 128]);
    const { tf } = faceApi.runtime;
    const manifest = JSON.parse(await readFile(`${faceApi.modelDir}/face_recognition_model-weights_manifest.json`, "utf8")) as Array<{ weights: Parameters<typeof tf.io.decodeWeights>[1] }>;
    const bytes = await readFile(`${faceApi.modelDir}/face_recognition_model.bin`);
    const decoded = tf.io.decodeWeights(new Uint8Array(bytes).buffer, (manifest[0] as { weights: Parameters<typeof tf.io.decodeWeights>[1] }).weights);
    try {
      assert.equal(weights.size, Object.keys(decoded).length);
      for (const [name, tensor] of Object.entries(decoded)) assert.deepEqual(weights.get(name)?.values, tensor.dataSync(), name);
    } finally {
      for (const tensor of Object.values(decoded)) tensor.dispose();
    }
    await assert.rejects(readTfjsWeights(faceApi.modelDir, "no_such_model"), /cannot read the weights manifest .*no_such_model-weights_manifest\.json/);
  });
});
