import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { silentLogger } from "../../../src/log.js";
import { createFaceEmbeddingBackbone } from "../../../src/model/backbones/face-embedding.js";
import type { Backbone } from "../../../src/model/backbones/types.js";
import {
  countOutcomes,
  cropFace,
  cropImage,
  defaultCropPolicy,
  eyeAngle,
  faceRegion,
  medianBox,
  planCrop,
  type CropPolicy,
} from "../../../src/model/face/crop.js";
import { boxInImage, createFaceDetector, detectionLayout, detectionPixels, facesInImage, pixelRegion, type FaceBox, type FaceDetector, type Point } from "../../../src/model/face/detector.js";
import { loadFaceApi } from "../../../src/model/face/face-api.js";
import { loadTf } from "../../../src/model/tfjs-engine.js";
import { decodeImage } from "../../../src/vision/decode.js";
import { createRgbImage, type RgbImage } from "../../../src/vision/image.js";
import { lfwRoot } from "../../helpers/lfw.js";

async function lfwImage(name: string): Promise<RgbImage> {
  const person = name.replace(/_\d{4}$/, "");
  return decodeImage(readFileSync(join(lfwRoot, person, `${name}.jpg`)), { maxPixels: 1_000_000 });
}

function plain(width: number, height: number, value: number): RgbImage {
  return createRgbImage(width, height, new Uint8Array(width * height * 3).fill(value));
}

/** A box on a photo of the given size, as the detector would return it. */
function box(x: number, y: number, width: number, height: number, imageWidth = 200, imageHeight = 100): FaceBox {
  return { x, y, width, height, score: 0.9, imageWidth, imageHeight };
}

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += ((a[i] as number) - (b[i] as number)) ** 2;
  return Math.sqrt(sum);
}

function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected} +- ${tolerance}, received ${actual}`);
}

/**
 * 68 landmarks of a synthetic upright face: eyes at y = 40 (left eye centre x = 30, right x = 70),
 * mouth centre at (50, 80), everything else on a jaw line around them, then turned by `angle`
 * about (50, 50).
 */
function syntheticLandmarks(angle = 0): Point[] {
  const points: Point[] = [];
  for (let i = 0; i < 36; i++) points.push([20 + (60 * i) / 35, i < 17 ? 90 : 30]);
  for (let i = 0; i < 6; i++) points.push([30 + (i % 2 === 0 ? -3 : 3), 40]);
  for (let i = 0; i < 6; i++) points.push([70 + (i % 2 === 0 ? -3 : 3), 40]);
  for (let i = 0; i < 20; i++) points.push([50 + (i % 2 === 0 ? -8 : 8), 80]);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return points.map(([x, y]): Point => [50 + (x - 50) * cos - (y - 50) * sin, 50 + (x - 50) * sin + (y - 50) * cos]);
}

describe("crop policy (pure)", () => {
  test("the median box is the median centre and size, relative to each photo", () => {
    const cases: Array<{ name: string; boxes: Array<FaceBox | null>; expected: { x: number; y: number; width: number; height: number } | null }> = [
      { name: "no boxes", boxes: [], expected: null },
      { name: "only misses", boxes: [null, null], expected: null },
      { name: "one box", boxes: [box(50, 20, 100, 60)], expected: { x: 0.25, y: 0.2, width: 0.5, height: 0.6 } },
      {
        name: "odd count: the middle value of each, one outlier ignored",
        boxes: [box(40, 20, 100, 60), box(50, 20, 100, 60), box(0, 0, 200, 100), null],
        expected: { x: 0.25, y: 0.2, width: 0.5, height: 0.6 },
      },
      {
        name: "even count: the mean of the two middle values",
        boxes: [box(40, 10, 80, 40), box(60, 30, 120, 80)],
        // centres (80, 30) and (120, 70) -> (100, 50); sizes (80, 40) and (120, 80) -> (100, 60).
        expected: { x: 0.25, y: 0.2, width: 0.5, height: 0.6 },
      },
      {
        name: "photos of different sizes share relative coordinates",
        boxes: [box(50, 20, 100, 60, 200, 100), box(100, 40, 200, 120, 400, 200), box(25, 10, 50, 30, 100, 50)],
        expected: { x: 0.25, y: 0.2, width: 0.5, height: 0.6 },
      },
    ];
    for (const { name, boxes, expected } of cases) {
      const median = medianBox(boxes);
      if (expected === null) {
        assert.equal(median, null, name);
        continue;
      }
      assert.ok(median, name);
      for (const key of ["x", "y", "width", "height"] as const) assertClose(median[key], expected[key], 1e-9, `${name}: ${key}`);
    }
  });

  test("a landmark-anchored median uses the landmarks, not the detector's box", () => {
    const withLandmarks: FaceBox = { ...box(0, 0, 200, 100), landmarks: syntheticLandmarks() };
    const median = medianBox([withLandmarks], "landmarks");
    assert.ok(median);
    // The synthetic landmarks span x 20..80 and y 30..90 on a 200x100 photo.
    assertClose(median.x, 20 / 200, 1e-9, "x");
    assertClose(median.width, 60 / 200, 1e-9, "width");
    assertClose(median.y, 30 / 100, 1e-9, "y");
    assertClose(median.height, 60 / 100, 1e-9, "height");
    assert.throws(() => medianBox([box(0, 0, 10, 10)], "eyes-mouth"), /needs 68 landmarks/);
  });

  test("fallback order is detected > median > center, and every outcome is counted", () => {
    const image = { width: 200, height: 100 };
    const policy: CropPolicy = { crop: "face", anchor: "box", margin: 0.25, align: false };
    const median = { x: 0.25, y: 0.2, width: 0.5, height: 0.6 };
    const detected = planCrop(image, box(80, 30, 40, 40), median, policy);
    assert.deepEqual(detected, { outcome: "detected", centerX: 100, centerY: 50, side: 60, angle: 0 });
    const fromMedian = planCrop(image, null, median, policy);
    assert.deepEqual(fromMedian, { outcome: "median", centerX: 100, centerY: 50, side: 150, angle: 0 });
    const centre = planCrop(image, null, null, policy);
    assert.deepEqual(centre, { outcome: "center", centerX: 100, centerY: 50, side: 100, angle: 0 });
    assert.equal(planCrop(image, box(80, 30, 40, 40), median, { ...policy, crop: "center" }).outcome, "center");
    const whole = planCrop(image, box(80, 30, 40, 40), median, { ...policy, crop: "none" });
    assert.deepEqual(whole, { outcome: "none", centerX: 100, centerY: 50, side: 200, angle: 0 });

    const outcomes = [detected, fromMedian, centre, detected, whole].map((plan) => plan.outcome);
    assert.deepEqual(countOutcomes(outcomes), { detected: 2, median: 1, center: 1, none: 1 });
    assert.deepEqual(countOutcomes([]), { detected: 0, median: 0, center: 0, none: 0 });
  });

  test("a box from a photo of another size, or a landmark policy without landmarks, is refused", () => {
    const policy: CropPolicy = { crop: "face", anchor: "box", margin: 0, align: false };
    assert.throws(() => planCrop({ width: 300, height: 100 }, box(0, 0, 10, 10), null, policy), /200x100 photo, received a 300x100/);
    assert.throws(() => planCrop({ width: 200, height: 100 }, box(0, 0, 10, 10), null, { ...policy, anchor: "eyes-mouth" }), /needs 68 landmarks/);
    assert.throws(() => planCrop({ width: 200, height: 100 }, null, null, { ...policy, margin: 5 }), /received 5/);
    assert.throws(() => planCrop({ width: 200, height: 100 }, null, null, { ...policy, crop: "face-ish" as CropPolicy["crop"] }), /received "face-ish"/);
  });

  test("eye alignment: the angle of the eye line, and regions turned by it", () => {
    assertClose(eyeAngle(syntheticLandmarks()), 0, 1e-12, "upright");
    assertClose(eyeAngle(syntheticLandmarks(0.3)), 0.3, 1e-12, "turned");
    const face: FaceBox = { ...box(0, 0, 100, 100, 100, 100), landmarks: syntheticLandmarks(0.3) };
    const levelled = faceRegion(face, "landmarks", true);
    assertClose(levelled.angle, 0.3, 1e-12, "angle");
    // Turned with the face, the enclosing rectangle is the upright face's: 60 x 60 around (50, 60).
    assertClose(levelled.width, 60, 1e-9, "width");
    assertClose(levelled.height, 60, 1e-9, "height");
    const upright = faceRegion({ ...face, landmarks: syntheticLandmarks() }, "landmarks", false);
    assert.deepEqual([upright.centerX, upright.centerY], [50, 60]);
  });

  test("the eyes-mouth square is face-api's: side = eye-to-mouth / 0.45, reference point 43% down", () => {
    const face: FaceBox = { ...box(0, 0, 100, 100, 100, 100), landmarks: syntheticLandmarks() };
    const region = faceRegion(face, "eyes-mouth", false);
    const eyeToMouth = Math.hypot(20, 40);
    assertClose(region.width, eyeToMouth / 0.45, 1e-9, "side");
    // The reference point (centroid of both eyes and the mouth) is (50, 160 / 3).
    assertClose(region.centerX, 50, 1e-9, "centre x");
    assertClose(region.centerY, 160 / 3 + 0.07 * region.width, 1e-9, "centre y");
  });

  test("cropImage: exact output size, identity on the whole photo, black outside the photo", () => {
    const image = createRgbImage(4, 2, Uint8Array.from({ length: 24 }, (_, i) => i * 10));
    const whole = cropImage(createRgbImage(2, 2, image.data.slice(0, 12)), { outcome: "none", centerX: 1, centerY: 1, side: 2, angle: 0 }, 2);
    assert.deepEqual([...whole.data], [...image.data.slice(0, 12)]);
    for (const size of [1, 37, 150, 223]) {
      const plan = planCrop(image, null, null, { crop: "none", anchor: "box", margin: 0, align: false });
      const out = cropImage(image, plan, size);
      assert.equal(out.width, size);
      assert.equal(out.height, size);
      assert.equal(out.data.length, size * size * 3);
    }
    // "none" letterboxes the 4x2 photo into a 4x4 square: the top and bottom rows are black.
    const letterboxed = cropImage(image, { outcome: "none", centerX: 2, centerY: 1, side: 4, angle: 0 }, 4);
    assert.ok(letterboxed.data.subarray(0, 12).every((value) => value === 0));
    assert.ok(letterboxed.data.subarray(36, 48).every((value) => value === 0));
    assert.deepEqual([...letterboxed.data.subarray(12, 36)], [...image.data]);
  });

  test("cropFace: a face box that leaves the photo is padded and still gives size x size", () => {
    const image = plain(120, 80, 200);
    const policy: CropPolicy = { crop: "face", anchor: "box", margin: 0.3, align: false };
    const { image: crop, outcome } = cropFace(image, box(100, 60, 30, 30, 120, 80), null, policy, 150);
    assert.equal(outcome, "detected");
    assert.equal(crop.width, 150);
    assert.equal(crop.height, 150);
    assert.equal(crop.data[0], 200, "top-left is inside the photo");
    assert.equal(crop.data[crop.data.length - 1], 0, "bottom-right is outside, so black");
  });

  test("detection pixels: the border as libvips' extend made it, value for value; one array reused on wasm, a fresh one elsewhere", async () => {
    const photo = createRgbImage(23, 17, Uint8Array.from({ length: 23 * 17 * 3 }, (_, index) => (index * 37 + 11) % 256));
    for (const fill of ["black", "edge"] as const) {
      for (const borderFraction of [0.25, 0.1, 0]) {
        const layout = detectionLayout(photo.width, photo.height, borderFraction);
        const expected = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
          .extend({ top: layout.top, bottom: layout.top, left: layout.left, right: layout.left, extendWith: fill === "edge" ? "copy" : "background", background: { r: 0, g: 0, b: 0 } })
          .raw()
          .toBuffer();
        const values = detectionPixels(photo, layout, fill, "tfjs-wasm");
        assert.equal(values.length, layout.width * layout.height * 3);
        assert.deepEqual(Array.from(values), Array.from(expected), `${fill} border, fraction ${borderFraction}`);
      }
    }
    const layout = detectionLayout(photo.width, photo.height, 0.25);
    const first = detectionPixels(photo, layout, "black", "tfjs-wasm");
    const again = detectionPixels(photo, detectionLayout(photo.width, photo.height, 0), "black", "tfjs-wasm");
    assert.equal(again.buffer, first.buffer, "the wasm backend's values share one array");
    for (const engine of ["tfjs-node", "tfjs-node-gpu", "tfjs-cpu"] as const) {
      assert.notEqual(detectionPixels(photo, layout, "black", engine).buffer, detectionPixels(photo, layout, "black", engine).buffer, `${engine} may keep the array it is given`);
    }
    assert.throws(() => detectionPixels(photo, { width: 30, height: 17, left: 2, top: 0 }, "black", "tfjs-wasm"), /a 23x17 photo does not fit a 30x17 detection input/);
  });

  test("the landmark net's face region: what a 3-D slice gives, value for value, at the edges too", async () => {
    const { tf } = await loadTf();
    const height = 37;
    const width = 53;
    const tensor = tf.tensor3d(Int32Array.from({ length: height * width * 3 }, (_, index) => (index * 7919) % 256), [height, width, 3], "int32");
    const regions = [
      { x: 0, y: 0, width, height },
      { x: 0, y: 0, width: 1, height: 1 },
      { x: width - 1, y: height - 1, width: 1, height: 1 },
      { x: 11, y: 5, width: 20, height: 30 },
      { x: 40, y: 0, width: 13, height: 37 },
    ];
    for (const region of regions) {
      const cut = pixelRegion(tf, tensor, region);
      const sliced = tf.slice3d(tensor, [region.y, region.x, 0], [region.height, region.width, 3]);
      assert.deepEqual(cut.shape, [region.height, region.width, 3], JSON.stringify(region));
      assert.deepEqual(Array.from(cut.dataSync()), Array.from(sliced.dataSync()), JSON.stringify(region));
      cut.dispose();
      sliced.dispose();
    }
    tensor.dispose();
  });

  test("detection geometry: border layout, mapping back, clamping, largest visible face", () => {
    assert.deepEqual(detectionLayout(250, 250, 0.25), { scale: 1, left: 63, top: 63, width: 376, height: 376 });
    assert.deepEqual(detectionLayout(250, 250, 0), { scale: 1, left: 0, top: 0, width: 250, height: 250 });
    const large = detectionLayout(4000, 2000, 0.25);
    assert.equal(large.scale, 1024 / 4000);
    assert.deepEqual([large.width, large.height], [1024 + 2 * 256, 512 + 2 * 128]);

    const input = detectionLayout(250, 250, 0.25);
    const mapped = boxInImage({ x: 63 + 50, y: 63 + 40, width: 100, height: 120 }, input, { width: 250, height: 250 }, 0.8);
    assert.deepEqual(mapped, { x: 50, y: 40, width: 100, height: 120, score: 0.8, imageWidth: 250, imageHeight: 250 });
    const clamped = boxInImage({ x: 20, y: 63 + 200, width: 100, height: 100 }, input, { width: 250, height: 250 }, 0.8);
    assert.deepEqual(clamped && [clamped.x, clamped.y, clamped.width, clamped.height], [0, 200, 57, 50]);
    assert.equal(boxInImage({ x: 0, y: 0, width: 50, height: 50 }, input, { width: 250, height: 250 }, 0.8), null, "entirely in the border");

    // A bystander mostly in the border is larger in the input but smaller in the photo.
    const bystander = { score: 0.95, box: { x: 0, y: 100, width: 110, height: 150 } };
    const subject = { score: 0.9, box: { x: 150, y: 120, width: 90, height: 110 } };
    assert.equal(facesInImage([bystander, subject], input, { width: 250, height: 250 })[0]?.detection, subject);
    assert.deepEqual(facesInImage([], input, { width: 250, height: 250 }), []);
  });
});

describe("face detector and face-embedding backbone on LFW", () => {
  let detector: FaceDetector;
  let backbone: Backbone;

  before(async () => {
    detector = await createFaceDetector({ landmarks: true, log: silentLogger() });
    backbone = await createFaceEmbeddingBackbone({ log: silentLogger() });
  });
  after(async () => {
    await detector.dispose();
    await backbone.dispose();
  });

  async function faceCrop(name: string): Promise<RgbImage> {
    const image = await lfwImage(name);
    const found = await detector.detect(image);
    assert.ok(found, `a face in ${name}`);
    return cropFace(image, found, null, defaultCropPolicy, backbone.inputSize).image;
  }

  test("face-api shares faceops's TensorFlow.js engine", async () => {
    const faceApi = await loadFaceApi();
    const runtime = await loadTf();
    assert.equal(faceApi.runtime, runtime);
    assert.equal(faceApi.api.tf.engine(), runtime.tf.engine());
  });

  test("finds a roughly centred face inside each deep-funneled LFW photo", async () => {
    for (const name of ["Bill_Gates_0001", "Serena_Williams_0001", "Colin_Powell_0001", "Hugo_Chavez_0003"]) {
      const image = await lfwImage(name);
      const found = await detector.detect(image);
      assert.ok(found, `no face found in ${name}`);
      assert.deepEqual([found.imageWidth, found.imageHeight], [250, 250]);
      assert.ok(found.x >= 0 && found.y >= 0 && found.x + found.width <= 250 && found.y + found.height <= 250, `${name}: box inside the photo`);
      assert.ok(found.width > 50 && found.width < 200, `${name}: face width ${found.width}`);
      assertClose(found.x + found.width / 2, 125, 35, `${name}: centre x`);
      assertClose(found.y + found.height / 2, 125, 35, `${name}: centre y`);
      assert.ok(found.score >= 0.5 && found.score <= 1, `${name}: score ${found.score}`);
      assert.equal(found.landmarks?.length, 68);
      // The eyes lie above the mouth, in the upper part of the box.
      const [leftEye, , mouth] = [found.landmarks[36], found.landmarks[45], found.landmarks[62]] as Point[];
      assert.ok((leftEye as Point)[1] < (mouth as Point)[1], `${name}: eyes above mouth`);
      assert.equal(JSON.stringify(JSON.parse(JSON.stringify(found))), JSON.stringify(found), "a FaceBox survives JSON");
    }
  });

  test("tiny-then-ssd runs SSD where the tiny detector finds no face", async () => {
    // Two of the LFW photos in which the tiny detector, even with the border, finds no face.
    const tiny = await createFaceDetector({ detector: "tiny", landmarks: false, log: silentLogger() });
    try {
      for (const name of ["Jack_Straw_0003", "Tiger_Woods_0012"]) {
        const image = await lfwImage(name);
        assert.equal(await tiny.detect(image), null, `tiny finds no face in ${name}`);
        const found = await detector.detect(image);
        assert.ok(found, `SSD finds the face in ${name}`);
        assertClose(found.x + found.width / 2, 125, 40, `${name}: centre x`);
      }
    } finally {
      await tiny.dispose();
    }
  });

  test("a plain background, or noise, has no face", async () => {
    assert.equal(await detector.detect(plain(250, 250, 128)), null);
    assert.equal(await detector.detect(plain(250, 250, 0)), null);
    let seed = 7;
    const noise = createRgbImage(
      200,
      160,
      Uint8Array.from({ length: 200 * 160 * 3 }, () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % 256;
      }),
    );
    assert.equal(await detector.detect(noise), null);
  });

  test("the fingerprint and options name what they are", async () => {
    assert.match(detector.fingerprint, /^face-api-1\.7\.15:.*border-0\.25-.*landmarks68$/);
    await assert.rejects(createFaceDetector({ detector: "yolo" as "ssd", log: silentLogger() }), /received "yolo"/);
    await assert.rejects(createFaceDetector({ minConfidence: 1.5, log: silentLogger() }), /received 1\.5/);
    await assert.rejects(createFaceDetector({ borderFraction: -1, log: silentLogger() }), /received -1/);
  });

  test("the backbone describes itself and hashes the weight file", async () => {
    const faceApi = await loadFaceApi();
    const sha = createHash("sha256").update(readFileSync(join(faceApi.modelDir, "face_recognition_model.bin"))).digest("hex");
    assert.equal(backbone.id, "face-embedding");
    assert.equal(backbone.inputSize, 150);
    assert.equal(backbone.featureLength, 128);
    assert.equal(backbone.randomWeights, false);
    assert.equal(backbone.weightsSha256, sha);
    assert.ok(backbone.fingerprint.includes(sha), backbone.fingerprint);
    assert.equal(backbone.engine, (await loadTf()).engine);
    await assert.rejects(backbone.embed([plain(224, 224, 0)]), /150x150 face crops, image 0 is 224x224/);
  });

  test("descriptors: 128-d, unit length, deterministic, the same person closer than another", async () => {
    const gates1 = await faceCrop("Bill_Gates_0001");
    const gates2 = await faceCrop("Bill_Gates_0002");
    const serena1 = await faceCrop("Serena_Williams_0001");
    const serena2 = await faceCrop("Serena_Williams_0002");
    const passes = backbone.forwardPasses;
    const vectors = await backbone.embed([gates1, gates2, serena1, serena2, gates1]);
    assert.equal(vectors.length, 5);
    const [g1, g2, s1, s2, g1again] = vectors as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    assert.equal(backbone.forwardPasses, passes + 5);
    for (const vector of [g1, g2, s1, s2]) {
      assert.equal(vector.length, 128);
      assertClose(Math.hypot(...vector), 1, 1e-5, "L2 norm");
    }
    assert.deepEqual(g1again, g1);
    const same = [distance(g1, g2), distance(s1, s2)];
    const different = [g1, g2].flatMap((g) => [s1, s2].map((s) => distance(g, s)));
    assert.ok(Math.max(...same) < Math.min(...different), `same person ${same.join(", ")}; different ${different.join(", ")}`);
  });

  test("a batch gives exactly what one-by-one calls give", async () => {
    const crops = await Promise.all(["Bill_Gates_0003", "Serena_Williams_0003", "Colin_Powell_0002"].map(faceCrop));
    const batched = await backbone.embed(crops);
    const single: Float32Array[] = [];
    for (const crop of crops) single.push(...(await backbone.embed([crop])));
    assert.equal(batched.length, 3);
    batched.forEach((vector, index) => assert.deepEqual(vector, single[index]));
    assert.deepEqual(await backbone.embed([]), []);
  });

  test("no tensor leaks from detection, landmarks or embedding", async () => {
    const { tf } = await loadTf();
    const image = await lfwImage("Hugo_Chavez_0001");
    const crop = await faceCrop("Hugo_Chavez_0001");
    const before = tf.memory().numTensors;
    for (let round = 0; round < 3; round++) {
      const found = await detector.detect(image);
      assert.ok(found);
      await detector.addLandmarks(image, found);
      await detector.detect(plain(120, 90, 30));
      await backbone.embed([crop, crop, crop]);
    }
    assert.equal(tf.memory().numTensors, before);
  });
});

// After the suite above has disposed its detector and backbone, so that no other user holds a net.
describe("face-api weight lifetime", () => {
  test("weights are freed when the last user disposes, and reloaded by the next", async () => {
    const { tf } = await loadTf();
    const before = tf.memory().numTensors;
    const tiny = await createFaceDetector({ detector: "tiny", log: silentLogger() });
    const loaded = tf.memory().numTensors;
    assert.ok(loaded > before, "the tiny detector's weights are tensors");
    assert.ok(await tiny.detect(await lfwImage("Serena_Williams_0001")));
    await tiny.dispose();
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(tiny.detect(plain(10, 10, 0)), /disposed/);
    const again = await createFaceDetector({ detector: "tiny", log: silentLogger() });
    assert.ok(await again.detect(await lfwImage("Serena_Williams_0001")));
    await again.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
