import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { configSchema } from "../../../src/config/schema.js";
import { silentLogger } from "../../../src/log.js";
import {
  backboneForBundle,
  bundleBackbone,
  configuredBackbone,
  createBackbone,
  type BackboneChoice,
  type BackboneSpec,
} from "../../../src/model/backbone-factory.js";
import type { BackboneReference } from "../../../src/model/bundle.js";

const vgg16: BackboneChoice = { backbone: "vgg16", decidedAt: "2024-01-01T00:00:00.000Z", reason: "test" };
const faceEmbedding: BackboneChoice = { ...vgg16, backbone: "face-embedding" };

function reference(overrides: Partial<BackboneReference>): BackboneReference {
  return {
    id: "vgg16",
    fingerprint: "vgg16-x",
    weightsSha256: "x",
    randomWeights: false,
    weightsSource: "/weights/vgg16.h5",
    engine: "onnxruntime-cpu",
    inputSize: 64,
    featureLength: 512,
    preprocessing: "caffe",
    pooling: "avg",
    ...overrides,
  };
}

describe("the backbone a configuration or a bundle describes", () => {
  const cases: Array<{ name: string; spec: BackboneSpec; expected: BackboneSpec }> = [
    {
      name: "configured: the face-embedding network has no settings",
      spec: configuredBackbone(configSchema.parse({ model: { pooling: "flatten" } }), faceEmbedding),
      expected: { id: "face-embedding" },
    },
    {
      name: "configured: random weights take the training seed",
      spec: configuredBackbone(configSchema.parse({ model: { vgg16Weights: "random", pooling: "flatten" }, train: { seed: 9 }, vision: { size: 64 } }), vgg16),
      expected: { id: "vgg16", weights: { kind: "random", seed: 9 }, inputSize: 64, pooling: "flatten", precision: "fp32" },
    },
    {
      name: "configured: no weights source looks in the cache, then downloads",
      spec: configuredBackbone(configSchema.parse({ model: { precision: "int8" } }), vgg16),
      expected: { id: "vgg16", weights: { kind: "file", source: undefined }, inputSize: 224, pooling: "avg", precision: "int8" },
    },
    {
      name: "bundle: its own size, pooling and precision, whatever the configuration says",
      spec: bundleBackbone(reference({ inputSize: 96, pooling: "flatten", precision: "int8" }), configSchema.parse({ vision: { size: 224 }, model: { pooling: "avg" } })),
      expected: { id: "vgg16", weights: { kind: "file", source: "/weights/vgg16.h5" }, inputSize: 96, pooling: "flatten", precision: "int8" },
    },
    {
      name: "bundle: the configured weights source wins over the recorded one (the file may have moved)",
      spec: bundleBackbone(reference({}), configSchema.parse({ model: { vgg16Weights: "/moved/vgg16.h5" } })),
      expected: { id: "vgg16", weights: { kind: "file", source: "/moved/vgg16.h5" }, inputSize: 64, pooling: "avg", precision: "fp32" },
    },
    {
      name: "bundle: random weights come back from their seed; an older bundle without precision is fp32",
      spec: bundleBackbone(reference({ weightsSource: "random:7" }), configSchema.parse({ model: { vgg16Weights: "/ignored.h5" } })),
      expected: { id: "vgg16", weights: { kind: "random", seed: 7 }, inputSize: 64, pooling: "avg", precision: "fp32" },
    },
    {
      name: "bundle: the face-embedding network",
      spec: bundleBackbone(reference({ id: "face-embedding", pooling: "none", weightsSource: "npm:@vladmandic/face-api@1.7.15" }), configSchema.parse({})),
      expected: { id: "face-embedding" },
    },
  ];
  for (const { name, spec, expected } of cases) {
    test(name, () => assert.deepEqual(spec, expected));
  }
});

describe("createBackbone and backboneForBundle", () => {
  const config = configSchema.parse({ model: { vgg16Weights: "random", pooling: "avg" }, train: { seed: 5 }, vision: { size: 32 }, engine: "onnxruntime" });
  const log = silentLogger();

  test("a bundle's reference builds the backbone it was trained on again", async () => {
    const built = await createBackbone(configuredBackbone(config, vgg16), config, log);
    try {
      assert.deepEqual(built.reference, { id: "vgg16", weightsSource: "random:5", pooling: "avg", precision: "fp32" });
      const recorded = reference({ ...built.reference, pooling: "avg", fingerprint: built.backbone.fingerprint, inputSize: built.backbone.inputSize });
      const again = await backboneForBundle(recorded, configSchema.parse({ engine: "onnxruntime" }), log);
      try {
        assert.equal(again.fingerprint, built.backbone.fingerprint);
      } finally {
        await again.dispose();
      }
    } finally {
      await built.backbone.dispose();
    }
  });

  test("a bundle whose backbone this machine builds differently is refused, naming both fingerprints", async () => {
    const recorded = reference({ weightsSource: "random:5", inputSize: 32, fingerprint: "vgg16-other" });
    await assert.rejects(
      backboneForBundle(recorded, config, log),
      /trained on backbone vgg16-other, but this machine builds vgg16-random-seed-5-32-avg-caffe/,
    );
  });
});
