import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../../src/log.js";
import type { CropPolicy } from "../../../src/model/face/crop.js";
import type { FaceBox, FaceDetector } from "../../../src/model/face/detector.js";
import { FaceBoxCache, faceCropPlanner, localFaceFinder, type FaceFinder } from "../../../src/model/face-planner.js";
import type { CropPlan, FeaturePhoto, PlanningContext } from "../../../src/model/features.js";
import { createRgbImage, type RgbImage } from "../../../src/vision/image.js";

/**
 * The face planner over a hand-made dataset: a detector that returns the faces the test says each
 * photo has, and an embedder that says whose each face is. What is detected, what is embedded, which
 * face each photo is cropped at, and what is reported.
 */

const policy: CropPolicy = { crop: "face", anchor: "box", margin: 0, align: false };
const side = 400;

/** A face of `who` at horizontal position x (its centre is x + 50). */
interface Drawn {
  who: "alice" | "bob";
  x: number;
  size: number;
}

const directions = { alice: [1, 0.05, 0], bob: [0.05, 1, 0] } as const;

function dataset(photos: Record<string, Drawn[]>) {
  const images = new WeakMap<RgbImage, string>();
  const list: FeaturePhoto[] = Object.keys(photos).map((path, index) => ({ path, sha256: `sha-${index}`, width: side, height: side }));
  let detections = 0;
  const embedded: string[] = [];
  const box = (face: Drawn): FaceBox => ({ x: face.x, y: 100, width: face.size, height: face.size, score: 0.9, imageWidth: side, imageHeight: side });
  const detector: FaceDetector = {
    kind: "ssd",
    fingerprint: "test-detector",
    detect: () => Promise.reject(new Error("the planner asks for every face")),
    detectAll: (image) => {
      detections++;
      // Largest first, as the real detector orders them.
      const faces = [...(photos[images.get(image) as string] as Drawn[])].sort((a, b) => b.size - a.size).map(box);
      return Promise.resolve({ faces, found: faces.length });
    },
    addLandmarks: (_image, found) => Promise.resolve(found),
    dispose: () => Promise.resolve(),
  };
  /** Grey with a stripe, so each face's crop has some sharpness. */
  const decode = (photo: FeaturePhoto) => {
    const image = createRgbImage(side, side);
    for (let index = 0; index < image.data.length; index += 3 * 7) image.data[index] = 255;
    images.set(image, photo.path);
    return Promise.resolve(image);
  };
  /** Whose face a crop is: the face of the photo whose centre the crop's key names. */
  const embed: PlanningContext["embed"] = (crops) =>
    Promise.resolve(
      crops.map(({ photo, plan }) => {
        const centerX = Number(/^face:detected:([\d.]+),/.exec(plan.key)?.[1]);
        const face = (photos[photo.path] as Drawn[]).find((drawn) => Math.abs(drawn.x + drawn.size / 2 - centerX) < 1) as Drawn;
        embedded.push(`${photo.path}@${face.x}`);
        return Float32Array.from(directions[face.who]);
      }),
    );
  const read = (photo: FeaturePhoto) => Promise.resolve(new TextEncoder().encode(photo.path));
  return { list, detector, context: { read, decode, embed }, embedded, detections: () => detections };
}

const centreOf = (plan: CropPlan | undefined) => Number(/^face:(?:detected|median):([\d.]+),/.exec(plan?.key ?? "")?.[1]);

describe("faceCropPlanner", () => {
  let folder = "";
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "faceops-planner-test-"));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  test("a photo of Alice in which Bob is larger is cropped at Alice's face; only what is compared is embedded", async () => {
    const data = dataset({
      "Alice/1.jpg": [{ who: "alice", x: 100, size: 120 }],
      "Alice/2.jpg": [{ who: "alice", x: 140, size: 110 }],
      "Alice/with-bob.jpg": [{ who: "bob", x: 20, size: 160 }, { who: "alice", x: 250, size: 100 }],
      "Bob/1.jpg": [{ who: "bob", x: 100, size: 120 }],
      "Bob/2.jpg": [{ who: "bob", x: 90, size: 130 }],
    });
    const faces = await FaceBoxCache.load(join(folder, "choose.json"));
    const planner = faceCropPlanner({ finder: localFaceFinder(data.detector, policy), policy, faces, requireFace: false, log: silentLogger() });
    const { plans, faces: report } = await planner.plan(data.list, data.context);

    assert.equal(centreOf(plans.get("sha-2")), 300, "the crop is centred on Alice's face (250 + 100/2), not Bob's larger one");
    assert.equal(centreOf(plans.get("sha-0")), 160);
    assert.deepEqual(data.embedded.sort(), ["Alice/1.jpg@100", "Alice/2.jpg@140", "Alice/with-bob.jpg@20", "Alice/with-bob.jpg@250"], "Bob's one-face photos are not compared with anything");
    assert.deepEqual(report?.facesFound, { "Alice/1.jpg": 1, "Alice/2.jpg": 1, "Alice/with-bob.jpg": 2, "Bob/1.jpg": 1, "Bob/2.jpg": 1 });
    assert.deepEqual(report?.warnings.map((warning) => [warning.path, warning.reason, warning.box]), [["Alice/with-bob.jpg", "multiple_faces", { x: 250, y: 100, width: 100, height: 100 }]]);
    assert.deepEqual(report?.rejected, []);
  });

  test("faces are found once per photo and kept: planning again, or with a reloaded cache, detects nothing", async () => {
    const data = dataset({ "Alice/1.jpg": [{ who: "alice", x: 100, size: 120 }], "Bob/1.jpg": [{ who: "bob", x: 100, size: 120 }] });
    const path = join(folder, "kept.json");
    const first = faceCropPlanner({ finder: localFaceFinder(data.detector, policy), policy, faces: await FaceBoxCache.load(path), requireFace: false, log: silentLogger() });
    await first.plan(data.list, data.context);
    await first.plan(data.list, data.context);
    const reloaded = faceCropPlanner({ finder: localFaceFinder(data.detector, policy), policy, faces: await FaceBoxCache.load(path), requireFace: false, log: silentLogger() });
    const { plans } = await reloaded.plan(data.list, data.context);
    assert.equal(data.detections(), 2, "one detection per photo in all");
    assert.deepEqual(data.embedded, [], "one face per photo: nothing to compare, nothing embedded");
    assert.equal(centreOf(plans.get("sha-1")), 160);
  });

  test("a photo without a face is cropped at the median of the faces chosen, with a warning, or rejected with requireFace", async () => {
    const photos = {
      "Alice/1.jpg": [{ who: "alice", x: 100, size: 100 }],
      "Alice/empty.jpg": [],
      "Bob/1.jpg": [{ who: "bob", x: 200, size: 100 }],
    } satisfies Record<string, Drawn[]>;
    const lenient = dataset(photos);
    const planned = await faceCropPlanner({ finder: localFaceFinder(lenient.detector, policy), policy, faces: await FaceBoxCache.load(join(folder, "lenient.json")), requireFace: false, log: silentLogger() }).plan(lenient.list, lenient.context);
    assert.match(planned.plans.get("sha-1")?.key ?? "", /^face:median:202\.00,/, "the median of the centres 150 and 250, its corner rounded to 1% of the photo");
    assert.deepEqual(planned.faces?.warnings.map((warning) => [warning.path, warning.reason]), [["Alice/empty.jpg", "no_face"]]);

    const strict = dataset(photos);
    const rejecting = await faceCropPlanner({ finder: localFaceFinder(strict.detector, policy), policy, faces: await FaceBoxCache.load(join(folder, "strict.json")), requireFace: true, log: silentLogger() }).plan(strict.list, strict.context);
    assert.deepEqual(rejecting.faces?.rejected, [{ path: "Alice/empty.jpg", reason: "no_face", message: "no face found, and dataset.requireFace is true" }]);
    assert.deepEqual(rejecting.faces?.warnings, []);
  });
  test("a finder that searches several photos at once (the face-path workers) keeps that many in flight, never more, and plans the same crops", async () => {
    const photos = Object.fromEntries(Array.from({ length: 7 }, (_, index) => [`${index % 2 ? "Alice" : "Bob"}/${index}.jpg`, [{ who: index % 2 ? "alice" : "bob", x: 60 + 10 * index, size: 100 }]])) as Record<string, Drawn[]>;
    const serial = dataset(photos);
    const expected = await faceCropPlanner({ finder: localFaceFinder(serial.detector, policy), policy, faces: await FaceBoxCache.load(join(folder, "serial.json")), requireFace: false, log: silentLogger() }).plan(serial.list, serial.context);

    const pooled = dataset(photos);
    const local = localFaceFinder(pooled.detector, policy);
    let running = 0;
    let most = 0;
    const read: string[] = [];
    const finder: FaceFinder = {
      ...local,
      concurrency: 3,
      find: async (photo, context) => {
        running++;
        most = Math.max(most, running);
        read.push(new TextDecoder().decode(await context.read(photo)));
        // Later photos answer first: the plans must not depend on the order answers come back in.
        await new Promise((resolve) => setTimeout(resolve, 20 - 2 * Number(/(\d+)\.jpg$/.exec(photo.path)?.[1])));
        const faces = await local.find(photo, context);
        running--;
        return faces;
      },
    };
    const progress: number[] = [];
    const planned = await faceCropPlanner({ finder, policy, faces: await FaceBoxCache.load(join(folder, "pooled.json")), requireFace: false, log: silentLogger(), onProgress: (done) => progress.push(done) }).plan(pooled.list, pooled.context);
    assert.equal(most, 3, "three photos in flight at a time");
    assert.deepEqual(read.sort(), Object.keys(photos).sort(), "each photo's file read once");
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual([...planned.plans].map(([sha, plan]) => [sha, plan.key]), [...expected.plans].map(([sha, plan]) => [sha, plan.key]));
    assert.deepEqual(planned.faces, expected.faces);
  });

  test("a photo whose search fails fails the planning, once the searches already running have ended, and nothing more is started", async () => {
    const photos = Object.fromEntries(Array.from({ length: 6 }, (_, index) => [`Alice/${index}.jpg`, [{ who: "alice", x: 100, size: 100 }]])) as Record<string, Drawn[]>;
    const data = dataset(photos);
    const local = localFaceFinder(data.detector, policy);
    const started: string[] = [];
    let running = 0;
    const finder: FaceFinder = {
      ...local,
      concurrency: 2,
      find: async (photo, context) => {
        started.push(photo.path);
        running++;
        try {
          if (photo.path === "Alice/1.jpg") throw new Error("the face-path worker 1 stopped (exit code 1) while running a findFaces task");
          await new Promise((resolve) => setTimeout(resolve, 10));
          return await local.find(photo, context);
        } finally {
          running--;
        }
      },
    };
    const planner = faceCropPlanner({ finder, policy, faces: await FaceBoxCache.load(join(folder, "failing.json")), requireFace: false, log: silentLogger() });
    await assert.rejects(planner.plan(data.list, data.context), /worker 1 stopped/);
    assert.equal(running, 0, "no search is left running");
    assert.deepEqual(started, ["Alice/0.jpg", "Alice/1.jpg"]);
  });
});
