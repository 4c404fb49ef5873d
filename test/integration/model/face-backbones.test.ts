import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { configSchema } from "../../../src/config/schema.js";
import { silentLogger } from "../../../src/log.js";
import { bundleBackbone, chooseBackbone, configuredBackbone, createBackbone, type BuiltBackbone } from "../../../src/model/backbone-factory.js";
import { faceresDescription } from "../../../src/model/backbones/faceres.js";
import { createGraphBackbone } from "../../../src/model/backbones/graph-backbone.js";
import type { BackboneId } from "../../../src/model/backbones/types.js";
import type { BackboneReference } from "../../../src/model/bundle.js";
import { cropFace, defaultCropPolicy } from "../../../src/model/face/crop.js";
import { createFaceDetector, type FaceBox } from "../../../src/model/face/detector.js";
import { facePathEmbedding, FacePathWorkers } from "../../../src/model/face-path/workers.js";
import { decodeImage } from "../../../src/vision/decode.js";
import type { RgbImage } from "../../../src/vision/image.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/**
 * Every face backbone on real LFW photos, through the crop faceops uses: two photos of one person
 * must lie nearer each other than photos of two people, each backbone has its own fingerprint (so
 * their feature-cache entries never mix), and its reference records the weights' licence.
 */

const faceBackbones: readonly BackboneId[] = ["face-embedding", "face-embedding-mirrored", "faceres"];
const people = ["Colin_Powell", "Gloria_Macapagal_Arroyo", "Junichiro_Koizumi", "Serena_Williams"];
const config = configSchema.parse({});
const log = silentLogger();

interface Photo {
  person: string;
  image: RgbImage;
  box: FaceBox | null;
}

const photos: Photo[] = [];
const built = new Map<BackboneId, BuiltBackbone>();

before(async () => {
  const detector = await createFaceDetector({ log, landmarks: true });
  try {
    for (const person of people) {
      for (const path of lfwPhotos(person).slice(0, 2)) {
        const image = await decodeImage(await readFile(path), { maxPixels: 10_000_000 });
        photos.push({ person, image, box: await detector.detect(image) });
      }
    }
  } finally {
    await detector.dispose();
  }
  for (const id of faceBackbones) built.set(id, await createBackbone({ id } as { id: Exclude<BackboneId, "vgg16"> }, config, log));
});

after(async () => {
  for (const { backbone } of built.values()) await backbone.dispose();
});

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let index = 0; index < a.length; index += 1) sum += ((a[index] as number) - (b[index] as number)) ** 2;
  return Math.sqrt(sum);
}

describe("face backbones on LFW crops", () => {
  for (const id of faceBackbones) {
    test(`${id}: two photos of one person are nearer than photos of two people`, async () => {
      const { backbone } = built.get(id) as BuiltBackbone;
      assert.ok(photos.every((photo) => photo.box !== null), "every test photo has a detected face");
      const crops = photos.map((photo) => cropFace(photo.image, photo.box, null, defaultCropPolicy, backbone.inputSize).image);
      const vectors = await backbone.embed(crops);
      assert.equal(vectors.length, photos.length);
      for (const vector of vectors) {
        assert.equal(vector.length, backbone.featureLength);
        assert.ok(Math.abs(distance(vector, new Float32Array(vector.length)) - 1) < 1e-4, "descriptors have unit length");
      }
      // Photos 2k and 2k+1 are one person's; every same-person distance must beat every cross-person one it is compared with.
      for (let person = 0; person < people.length; person += 1) {
        const same = distance(vectors[2 * person] as Float32Array, vectors[2 * person + 1] as Float32Array);
        for (let other = 0; other < people.length; other += 1) {
          if (other === person) continue;
          const different = distance(vectors[2 * person] as Float32Array, vectors[2 * other] as Float32Array);
          assert.ok(same < different, `${id}: ${people[person]} to themself ${same.toFixed(3)} should be below ${people[person]} to ${people[other]} ${different.toFixed(3)}`);
        }
      }
    });
  }

  test("each backbone has its own fingerprint, which names the weights' sha256", () => {
    const fingerprints = faceBackbones.map((id) => (built.get(id) as BuiltBackbone).backbone.fingerprint);
    assert.equal(new Set(fingerprints).size, fingerprints.length, fingerprints.join(" vs "));
    for (const id of faceBackbones) {
      const { backbone } = built.get(id) as BuiltBackbone;
      assert.match(backbone.weightsSha256, /^[0-9a-f]{64}$/);
      assert.ok(backbone.fingerprint.includes(backbone.weightsSha256), `${id}'s fingerprint ${backbone.fingerprint} names its weights' sha256`);
    }
  });

  test("the reference a bundle records names the weights' licence and where they came from", () => {
    for (const id of ["face-embedding", "face-embedding-mirrored"] as const) {
      const reference = (built.get(id) as BuiltBackbone).reference;
      assert.equal(reference.id, id);
      assert.match(reference.licence ?? "", /public domain.*dlib-models/);
    }
    const faceres = (built.get("faceres") as BuiltBackbone).reference;
    assert.match(faceres.licence ?? "", /^Apache-2\.0: .*HSE_FaceRec_tf/);
    assert.match(faceres.weightsSource, /^npm:@vladmandic\/human@\d+\.\d+\.\d+\/models\/faceres\.json$/);
    assert.deepEqual({ ...faceres, licence: undefined }, { id: "faceres", weightsSource: faceres.weightsSource, pooling: "none", precision: "fp32", licence: undefined });
  });

  test("auto never picks faceres: without VGG16's weights it picks face-embedding-mirrored, the one measured best", async () => {
    const folder = temporaryFolder();
    try {
      const store = new StoreLayout(folder.path);
      const offline = configSchema.parse({ store: folder.path, cache: folder.path, model: { backbone: "auto", vgg16Weights: `${folder.path}/missing-vgg16.h5` } });
      const choice = await chooseBackbone(offline, store, log);
      assert.equal(choice.backbone, "face-embedding-mirrored", choice.reason);
    } finally {
      folder.dispose();
    }
  });

  for (const id of ["faceres", "face-embedding-mirrored"] as const) {
    test(`${id} is chosen by name, and a bundle trained on it builds it again`, () => {
      const choice = { backbone: id, decidedAt: "2024-01-01T00:00:00.000Z", reason: "test" };
      assert.deepEqual(configuredBackbone(config, choice), { id });
      const recorded = { id, pooling: "none", weightsSource: "npm:@vladmandic/human@3.3.6/models/faceres.json" } as BackboneReference;
      assert.deepEqual(bundleBackbone(recorded, config), { id });
    });
  }

  test("the mirrored descriptor differs from the plain one, and a mirror-image crop gives the same one", async () => {
    const plain = (built.get("face-embedding") as BuiltBackbone).backbone;
    const mirrored = (built.get("face-embedding-mirrored") as BuiltBackbone).backbone;
    const crop = cropFace((photos[0] as Photo).image, (photos[0] as Photo).box, null, defaultCropPolicy, plain.inputSize).image;
    const flipped = { ...crop, data: new Uint8Array(crop.data.length) };
    for (let y = 0; y < crop.height; y += 1) {
      for (let x = 0; x < crop.width; x += 1) {
        for (let channel = 0; channel < 3; channel += 1) flipped.data[(y * crop.width + x) * 3 + channel] = crop.data[(y * crop.width + (crop.width - 1 - x)) * 3 + channel] as number;
      }
    }
    const [[plainVector], [mirroredVector, mirroredOfFlipped]] = [await plain.embed([crop]), await mirrored.embed([crop, flipped])] as [Float32Array[], Float32Array[]];
    assert.ok(distance(plainVector as Float32Array, mirroredVector as Float32Array) > 1e-3, "averaging with the mirror image changes the descriptor");
    assert.ok(distance(mirroredVector as Float32Array, mirroredOfFlipped as Float32Array) < 1e-4, "a crop and its mirror image share one mirrored descriptor");
  });
});

describe("face-api's backbones in the face-path workers (serving)", () => {
  test("face-embedding and face-embedding-mirrored run in the workers, other backbones on their own", () => {
    assert.deepEqual(facePathEmbedding("face-embedding", 4), { batchSize: 4, mirror: false });
    assert.deepEqual(facePathEmbedding("face-embedding-mirrored", 4), { batchSize: 4, mirror: true });
    assert.equal(facePathEmbedding("faceres", 4), null);
    assert.equal(facePathEmbedding("vgg16", 4), null);
  });

  test("a worker's mirrored backbone is the one training built: same id, fingerprint and descriptor", async () => {
    const inThread = (built.get("face-embedding-mirrored") as BuiltBackbone).backbone;
    const workers = await FacePathWorkers.start({
      size: 1,
      tfEngine: undefined,
      maxPixels: 10_000_000,
      detector: null,
      embedding: facePathEmbedding("face-embedding-mirrored", 8),
      log,
    });
    try {
      const pooled = workers.backbone;
      assert.ok(pooled);
      assert.deepEqual([pooled.id, pooled.fingerprint], [inThread.id, inThread.fingerprint]);
      const crop = cropFace((photos[0] as Photo).image, (photos[0] as Photo).box, null, defaultCropPolicy, inThread.inputSize).image;
      const [there] = await pooled.embed([crop]);
      const [here] = await inThread.embed([crop]);
      assert.ok(distance(there as Float32Array, here as Float32Array) < 1e-4, "the worker's descriptor is the in-thread one");
    } finally {
      await workers.dispose();
    }
  });
});

describe("a packaged backbone whose package is not installed", () => {
  test("fails naming the package, instead of falling back to another backbone", async () => {
    const missing = { ...faceresDescription, source: { ...faceresDescription.source, packageName: "@faceops-test/not-installed" } };
    await assert.rejects(createGraphBackbone(missing, { log }), /the faceres backbone needs the npm package @faceops-test\/not-installed, which is not installed/);
  });

  test("fails naming the file when the package lacks the model", async () => {
    const missing = { ...faceresDescription, source: { ...faceresDescription.source, file: "models/no-such-model.json" } };
    await assert.rejects(createGraphBackbone(missing, { log }), /model models\/no-such-model\.json is missing from @vladmandic\/human/);
  });
});
