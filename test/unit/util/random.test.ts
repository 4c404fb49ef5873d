import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { randomVgg16Weights } from "../../../src/model/backbones/vgg16/weights/index.js";
import { seededPermutation, seededRandom } from "../../../src/util/random.js";
import { augment, defaultAugmentOptions, sampleAugmentation } from "../../../src/vision/augment.js";
import { createRgbImage } from "../../../src/vision/image.js";

/*
 * Augmentations and random VGG16 weights feed backbone fingerprints and cached features, so the
 * numbers the seeded generator draws are a contract: a change would silently make every cache and
 * every "random:<seed>" bundle disagree with itself. The values below were computed before the
 * generator's copies (one each in util, augmentation and the VGG16 weights) became one; they must
 * never change.
 */

describe("the seeded generator draws the same numbers it always has", () => {
  test("seededRandom, including seeds outside 0..2^32-1", () => {
    const draws = (seed: number) => {
      const next = seededRandom(seed);
      return [next(), next(), next()];
    };
    assert.deepEqual(draws(0), [0.26642920868471265, 0.0003297457005828619, 0.2232720274478197]);
    assert.deepEqual(draws(42), [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
    assert.deepEqual(draws(2 ** 32 + 5), [0.6897749109193683, 0.7727432732935995, 0.21976301027461886]);
    assert.deepEqual(draws(-1), [0.8964226141106337, 0.189478256739676, 0.7156526781618595]);
    assert.deepEqual(seededPermutation(10, 7), [6, 5, 8, 1, 2, 3, 4, 7, 9, 0]);
  });

  test("augmentation parameters and pixels", () => {
    assert.deepEqual(sampleAugmentation(defaultAugmentOptions, 1234, 3), {
      angleDeg: 9.404008509591222,
      shiftX: -0.0772811851464212,
      shiftY: -0.08188161635771395,
      zoom: 0.9100611323025077,
      flip: true,
      brightness: 0.8015810267068446,
    });
    assert.deepEqual(sampleAugmentation(defaultAugmentOptions, 0, 1), {
      angleDeg: -10.065757187549025,
      shiftX: 0.07145276465453207,
      shiftY: 0.07125463057309389,
      zoom: 0.9155337628908455,
      flip: true,
      brightness: 1.158218422625214,
    });
    assert.deepEqual(sampleAugmentation(defaultAugmentOptions, 2 ** 40 + 3, 2 ** 33 + 1), {
      angleDeg: -3.9750463818199933,
      shiftX: 0.011139306472614408,
      shiftY: -0.07745435032993556,
      zoom: 1.0392058116849512,
      flip: false,
      brightness: 1.080108158197254,
    });
    const data = new Uint8Array(32 * 24 * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5)) % 256;
    const out = augment(createRgbImage(32, 24, data), defaultAugmentOptions, 99, 2);
    assert.equal(createHash("sha256").update(out.data).digest("hex"), "be99d8eab4747f65d1fe12790a8bd62915546ccd38a5a423e98c5f8e0d9f455d");
  });

  test("random VGG16 weights, every value of every layer", () => {
    const weights = randomVgg16Weights(7);
    const hash = createHash("sha256");
    for (const [name, layer] of weights.layers) {
      hash.update(name);
      hash.update(new Uint8Array(layer.kernel.buffer, layer.kernel.byteOffset, layer.kernel.byteLength));
      hash.update(new Uint8Array(layer.bias.buffer, layer.bias.byteOffset, layer.bias.byteLength));
    }
    assert.equal(hash.digest("hex"), "d69ea09a20eefae3ad35a71cba4032a5840fbc9c0da447d4b09d6d04732b1d3e");
    // A few values in the clear, so a failure shows how far off it is.
    assert.deepEqual(Array.from(weights.layers.get("block1_conv1")?.kernel.slice(0, 3) ?? []), [-0.46036916971206665, -0.41298970580101013, 0.44963282346725464]);
    assert.deepEqual(Array.from(weights.layers.get("block5_conv3")?.bias.slice(-2) ?? []), [-0.3853359818458557, -0.24434660375118256]);
  });
});
