import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { silentLogger } from "../../../src/log.js";
import type { Backbone, Pooling } from "../../../src/model/backbones/types.js";
import {
  createVgg16Backbone,
  featureMapSize,
  vgg16ConvLayers,
  vgg16Layers,
  type Vgg16ConvWeights,
  type Vgg16Weights,
} from "../../../src/model/backbones/vgg16/index.js";
import { kernelLength } from "../../../src/model/backbones/vgg16/architecture.js";
import { createOnnxVgg16Engine, exportOnnx } from "../../../src/model/backbones/vgg16/onnx/index.js";
import { randomVgg16Weights } from "../../../src/model/backbones/vgg16/weights/index.js";
import { loadTf } from "../../../src/model/tfjs-engine.js";
import { decodeImage } from "../../../src/vision/decode.js";
import { createRgbImage, type RgbImage } from "../../../src/vision/image.js";
import { caffeNormalization, fitSquare, imageToTensorData } from "../../../src/vision/preprocess.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/*
 * Small inputs keep the TensorFlow.js side (the wasm backend here) fast: at 64x64 a forward pass
 * costs 1/12 of one at 224, and every layer, padding edge and pool is still exercised.
 */
const size = 64;
const log = silentLogger();

/**
 * How far apart two feature batches are: max |a - b| over all values, divided by max |b|. Scaling
 * by the largest reference value rather than element by element keeps features that are ReLU
 * zeros (or nearly) from turning float32 rounding noise into huge ratios.
 */
function relativeDifference(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let maxDiff = 0;
  let maxRef = 0;
  a.forEach((vector, index) => {
    const reference = b[index] as Float32Array;
    assert.equal(vector.length, reference.length);
    for (let i = 0; i < vector.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs((vector[i] as number) - (reference[i] as number)));
      maxRef = Math.max(maxRef, Math.abs(reference[i] as number));
    }
  });
  assert.ok(maxRef > 0, "reference features are all zero: the comparison would prove nothing");
  return maxDiff / maxRef;
}

async function lfwSquares(count: number): Promise<RgbImage[]> {
  const paths = [...lfwPhotos("Hans_Blix").slice(0, 1), ...lfwPhotos("Amelie_Mauresmo").slice(0, count - 1)];
  return Promise.all(paths.map(async (path) => fitSquare(await decodeImage(await readFile(path), { maxPixels: 10_000_000 }), size, "crop")));
}

describe("VGG16 engines agree", () => {
  const weights = randomVgg16Weights(7);
  let photos: RgbImage[] = [];
  const backbones: Backbone[] = [];

  before(async () => {
    photos = await lfwSquares(2);
  });

  after(async () => {
    for (const backbone of backbones) await backbone.dispose();
  });

  for (const pooling of ["avg", "flatten"] as const) {
    test(`onnxruntime and TensorFlow.js give the same ${pooling} features for two LFW photos (relative difference < 1e-4)`, async () => {
      const onnx = await createVgg16Backbone({ weights, inputSize: size, pooling, engine: "onnxruntime", log });
      const tfjs = await createVgg16Backbone({ weights, inputSize: size, pooling, engine: "tfjs", log });
      backbones.push(onnx, tfjs);
      assert.equal(onnx.engine, "onnxruntime-cpu");
      assert.match(tfjs.engine, /^tfjs-/);

      const fromOnnx = await onnx.embed(photos);
      const fromTfjs = await tfjs.embed(photos);
      const expectedLength = pooling === "avg" ? 512 : featureMapSize(size) ** 2 * 512;
      for (const features of [...fromOnnx, ...fromTfjs]) assert.equal(features.length, expectedLength);
      assert.equal(onnx.featureLength, expectedLength);

      const difference = relativeDifference(fromOnnx, fromTfjs);
      assert.ok(difference < 1e-4, `relative difference ${difference}`);
      // Two different faces must not give the same features, or the comparison above is hollow.
      assert.ok(relativeDifference([fromOnnx[0] as Float32Array], [fromOnnx[1] as Float32Array]) > 1e-2);
      assert.equal(onnx.forwardPasses, 2);
      assert.equal(tfjs.forwardPasses, 2);
    });
  }

  test("average pooling is the per-channel mean of the flattened map, so flatten is in NHWC order", async () => {
    for (const engine of ["onnxruntime", "tfjs"] as const) {
      const avg = await createVgg16Backbone({ weights, inputSize: size, pooling: "avg", engine, log });
      const flat = await createVgg16Backbone({ weights, inputSize: size, pooling: "flatten", engine, log });
      backbones.push(avg, flat);
      const [averaged] = await avg.embed(photos.slice(0, 1));
      const [flattened] = await flat.embed(photos.slice(0, 1));
      assert.ok(averaged && flattened);
      const positions = featureMapSize(size) ** 2;
      const means = new Float32Array(512);
      for (let p = 0; p < positions; p++) {
        for (let c = 0; c < 512; c++) means[c] = (means[c] as number) + (flattened[p * 512 + c] as number) / positions;
      }
      assert.ok(relativeDifference([means], [averaged]) < 1e-5, `${engine}: mean of NHWC positions differs from avg`);
      // Averages of ReLU outputs cannot be negative.
      assert.ok(averaged.every((value) => value >= 0), `${engine}: negative average`);
    }
  });

  test("the NCHW-input graph and an exported .onnx file give the same features as the default graph", async () => {
    const input = imageToTensorData(photos, caffeNormalization);
    const nhwc = await createOnnxVgg16Engine({ weights, inputSize: size, pooling: "flatten", log });
    const nchw = await createOnnxVgg16Engine({ weights, inputSize: size, pooling: "flatten", inputLayout: "nchw", log });
    const folder = await mkdtemp(join(tmpdir(), "faceops-vgg16-onnx-"));
    try {
      const reference = await nhwc.run(input, photos.length);
      assert.ok(relativeDifference([await nchw.run(input, photos.length)], [reference]) < 1e-5);
      const path = join(folder, "vgg16.onnx");
      await exportOnnx(path, weights, { inputSize: size, pooling: "flatten" });
      const session = await ort.InferenceSession.create(path);
      try {
        const results = await session.run({ input: new ort.Tensor("float32", input, [photos.length, size, size, 3]) });
        assert.deepEqual(results.features?.dims, [photos.length, featureMapSize(size) ** 2 * 512]);
        assert.ok(relativeDifference([results.features?.data as Float32Array], [reference]) < 1e-5);
      } finally {
        await session.release();
      }
    } finally {
      await Promise.all([nhwc.dispose(), nchw.dispose(), rm(folder, { recursive: true, force: true })]);
    }
  });

  test("int8: features close to fp32's (far closer than two photos are to each other), its own fingerprint, no tfjs", async () => {
    const float = await createVgg16Backbone({ weights, inputSize: size, pooling: "avg", engine: "onnxruntime", log });
    const int8 = await createVgg16Backbone({ weights, inputSize: size, pooling: "avg", engine: "auto", precision: "int8", log });
    backbones.push(float, int8);
    assert.equal(int8.engine, "onnxruntime-cpu-int8");
    assert.match(int8.fingerprint, new RegExp(`^${float.fingerprint}-int8-qlinearconv-calibration-[0-9a-f]{16}$`));
    const [exact, quantised] = [await float.embed(photos), await int8.embed(photos)];
    const distance = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((sum, value, index) => sum + (value - (b[index] as number)) ** 2, 0));
    const between = distance(exact[0] as Float32Array, exact[1] as Float32Array);
    assert.ok(between > 0);
    for (let index = 0; index < photos.length; index++) {
      const error = distance(quantised[index] as Float32Array, exact[index] as Float32Array);
      assert.ok(error < 0.1 * between, `photo ${index}: int8 is ${error} from fp32, the two photos are ${between} apart`);
    }
    await assert.rejects(createVgg16Backbone({ weights, inputSize: size, engine: "tfjs", precision: "int8", log }), /int8" runs on onnxruntime/);
  });
});

/*
 * A network whose answer can be worked out by hand: every conv passes input channel 0 through its
 * centre tap to output channel 0 and does nothing else, and block5_conv3 adds 2.5 to channel 1.
 * After caffe normalisation channel 0 is blue - 103.939, so the final 2x2 map (at 64x64) holds in
 * channel 0 the ReLU of the brightest blue in each 32x32 quadrant minus the mean, and 2.5 in
 * channel 1 everywhere. Distinct values per quadrant pin down row-versus-column order too.
 */
function passThroughWeights(): Vgg16Weights {
  const layers = new Map<string, Vgg16ConvWeights>();
  for (const layer of vgg16ConvLayers) {
    const kernel = new Float32Array(kernelLength(layer));
    // HWIO index of (h=1, w=1, in=0, out=0).
    kernel[(1 * 3 + 1) * layer.inChannels * layer.outChannels] = 1;
    const bias = new Float32Array(layer.outChannels);
    if (layer.name === "block5_conv3") bias[1] = 2.5;
    layers.set(layer.name, { kernel, bias });
  }
  return { layers, sha256: "test:pass-through", random: true };
}

/** Blue peaks per quadrant [top-left, top-right, bottom-left, bottom-right]; the rest is dimmer. */
const bluePeaks = [200, 150, 250, 90] as const;
const meanBlue = Math.fround(103.939);

function quadrantImage(): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const quadrant = (y < size / 2 ? 0 : 2) + (x < size / 2 ? 0 : 1);
      const peak = bluePeaks[quadrant] as number;
      const isPeak = x % 32 === 7 && y % 32 === 19;
      // Red and green are bright everywhere: a network that read them as blue would be caught.
      data.set([255, 240, isPeak ? peak : Math.min(peak, 60)], (y * size + x) * 3);
    }
  }
  return createRgbImage(size, size, data);
}

describe("VGG16 on hand-computed weights", () => {
  const weights = passThroughWeights();
  const expectedChannel0 = bluePeaks.map((peak) => Math.max(0, Math.fround(peak - meanBlue)));

  for (const engine of ["onnxruntime", "tfjs"] as const) {
    for (const pooling of ["flatten", "avg"] as const satisfies readonly Pooling[]) {
      test(`${engine}, ${pooling}: channel 0 is the ReLU of each quadrant's blue peak, channel 1 the bias`, async () => {
        const backbone = await createVgg16Backbone({ weights, inputSize: size, pooling, engine, log });
        try {
          const [features] = await backbone.embed([quadrantImage()]);
          assert.ok(features);
          const expected = new Float32Array(backbone.featureLength);
          if (pooling === "flatten") {
            expectedChannel0.forEach((value, position) => {
              expected[position * 512] = value;
              expected[position * 512 + 1] = 2.5;
            });
          } else {
            expected[0] = expectedChannel0.reduce((sum, value) => sum + value, 0) / 4;
            expected[1] = 2.5;
          }
          for (let i = 0; i < expected.length; i++) {
            assert.ok(Math.abs((features[i] as number) - (expected[i] as number)) <= 1e-4, `feature ${i}: ${features[i]} vs ${expected[i]}`);
          }
        } finally {
          await backbone.dispose();
        }
      });
    }
  }
});

describe("VGG16 backbone", () => {
  test("the architecture is Keras' VGG16 conv base", () => {
    assert.deepEqual(
      vgg16Layers.map((layer) => `${layer.name}:${layer.inChannels}->${layer.outChannels}`),
      [
        "block1_conv1:3->64", "block1_conv2:64->64", "block1_pool:64->64",
        "block2_conv1:64->128", "block2_conv2:128->128", "block2_pool:128->128",
        "block3_conv1:128->256", "block3_conv2:256->256", "block3_conv3:256->256", "block3_pool:256->256",
        "block4_conv1:256->512", "block4_conv2:512->512", "block4_conv3:512->512", "block4_pool:512->512",
        "block5_conv1:512->512", "block5_conv2:512->512", "block5_conv3:512->512", "block5_pool:512->512",
      ],
    );
    assert.equal(featureMapSize(), 7);
    assert.equal(featureMapSize(224), 7);
    assert.equal(featureMapSize(32), 1);
    for (const bad of [0, 16, 100, 224.5]) assert.throws(() => featureMapSize(bad), new RegExp(`received ${bad}`));
  });

  test("metadata, fingerprint, batching and pass counting", async () => {
    const weights = randomVgg16Weights(3);
    const backbone = await createVgg16Backbone({ weights, inputSize: size, pooling: "flatten", engine: "onnxruntime", log, batchSize: 2 });
    try {
      assert.equal(backbone.id, "vgg16");
      assert.equal(backbone.fingerprint, "vgg16-random-seed-3-64-flatten-caffe");
      assert.equal(backbone.weightsSha256, "random:3");
      assert.equal(backbone.randomWeights, true);
      assert.equal(backbone.preprocessing, "caffe");
      assert.equal(backbone.inputSize, size);
      assert.equal(backbone.featureLength, 2 * 2 * 512);
      const images = await lfwSquares(3);
      // Three images with a batch size of 2 run as two passes of 2 and 1; each is counted.
      const batched = await backbone.embed(images);
      assert.equal(backbone.forwardPasses, 3);
      const single = await backbone.embed(images.slice(2));
      assert.equal(backbone.forwardPasses, 4);
      assert.ok(relativeDifference(single, batched.slice(2)) < 1e-5, "an image's features must not depend on its batch");
      assert.deepEqual(await backbone.embed([]), []);
      await assert.rejects(backbone.embed([createRgbImage(32, 32)]), /takes 64x64 images; image 0 is 32x32/);
    } finally {
      await backbone.dispose();
    }
  });

  test("invalid options name the value", async () => {
    const weights = randomVgg16Weights(3);
    await assert.rejects(createVgg16Backbone({ weights, inputSize: 100, log }), /received 100/);
    await assert.rejects(createVgg16Backbone({ weights, pooling: "max" as Pooling, log }), /received "max"/);
    const incomplete: Vgg16Weights = { ...weights, layers: new Map([...weights.layers].filter(([name]) => name !== "block2_conv1")) };
    await assert.rejects(createVgg16Backbone({ weights: incomplete, inputSize: size, engine: "onnxruntime", log }), /no entry for layer block2_conv1/);
  });

  test("auto picks TensorFlow.js on a GPU and onnxruntime otherwise", async () => {
    const runtime = await loadTf();
    const weights = randomVgg16Weights(5);
    const onGpu = await createVgg16Backbone({ weights, inputSize: size, engine: "auto", log, loadTf: () => Promise.resolve({ ...runtime, engine: "tfjs-node-gpu" }) });
    const onCpu = await createVgg16Backbone({ weights, inputSize: size, engine: "auto", log, loadTf: () => Promise.resolve({ ...runtime, engine: "tfjs-wasm" }) });
    try {
      assert.equal(onGpu.engine, "tfjs-node-gpu");
      assert.equal(onCpu.engine, "onnxruntime-cpu");
    } finally {
      await onGpu.dispose();
      await onCpu.dispose();
    }
  });
});
