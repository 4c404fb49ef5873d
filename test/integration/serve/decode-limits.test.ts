import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { loadConfig } from "../../../src/config/load.js";
import { silentLogger } from "../../../src/log.js";
import { predictionDecodeSide, type Predictor } from "../../../src/model/predictor.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { createDecodeAdmission, decodePermits, resolveDecodeConcurrency } from "../../../src/serve/predict.js";
import { resolveEngineWorkers } from "../../../src/config/schema.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { startService, type TestService } from "../../helpers/http.js";
import { faceRepo, trainBundle, type TrainedBundle } from "../../helpers/training.js";

/**
 * Decoding uploads within bounds (issue 12, findings 2, 3 and 5), on a real service with a bundle
 * trained in the test (face-embedding, face crops). Each attack of the finding is replayed: what is
 * asserted is the behaviour that keeps memory bounded (the answer, what was decoded, how many photos
 * were decoded at once and at what size), never how long anything took.
 */

const people = ["Hugo_Chavez", "Serena_Williams"];
const concurrency = 2;

/** Counts the photos a predictor decodes, and how many it had in hand at once. */
interface DecodeWatch {
  calls: number;
  active: number;
  peak: number;
  /** Photos whose decoding overlapped another's while it was held alone. */
  overlapsWithExclusive: number;
  reset(): void;
}

function watchDecodes(predictor: Predictor, exclusive: (bytes: Uint8Array) => boolean = () => false): DecodeWatch {
  const prepare = predictor.prepare.bind(predictor);
  let exclusiveRunning = false;
  const watch: DecodeWatch = {
    calls: 0,
    active: 0,
    peak: 0,
    overlapsWithExclusive: 0,
    reset() {
      watch.calls = 0;
      watch.peak = 0;
      watch.overlapsWithExclusive = 0;
    },
  };
  predictor.prepare = async (bytes, options) => {
    watch.calls++;
    watch.active++;
    watch.peak = Math.max(watch.peak, watch.active);
    const alone = exclusive(bytes);
    if (exclusiveRunning || (alone && watch.active > 1)) watch.overlapsWithExclusive++;
    if (alone) exclusiveRunning = true;
    try {
      return await prepare(bytes, options);
    } finally {
      watch.active--;
      if (alone) exclusiveRunning = false;
    }
  };
  return watch;
}

async function postPhotos(url: string, photos: readonly Buffer[], type = "image/png"): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  photos.forEach((bytes, index) => form.append("image", new Blob([bytes], { type }), `photo-${index + 1}`));
  const response = await fetch(url, { method: "POST", body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The machine-readable code of an error body: v1's `{error: {code}}`, or a `code` beside the OIP's `{error: "<message>"}`. */
function errorCode(body: Record<string, unknown>): unknown {
  const error = body.error;
  return typeof error === "object" && error !== null ? (error as { code?: unknown }).code : body.code;
}

function errorMessage(body: Record<string, unknown>): string {
  const error = body.error;
  return String(typeof error === "object" && error !== null ? (error as { message?: unknown }).message : error);
}

const zeroPng = (side: number) => sharp({ create: { width: side, height: side, channels: 3, background: "#000000" } }).png({ compressionLevel: 9 }).toBuffer();

/** A binary PGM of ~10 MB, the largest one upload may be. */
function bigPgm(): Buffer {
  const width = 3300;
  const height = 3000;
  const raster = Buffer.alloc(width * height);
  for (let index = 0; index < raster.length; index++) raster[index] = (index * 7) % 251;
  return Buffer.concat([Buffer.from(`P5\n${width} ${height}\n255\n`, "latin1"), raster]);
}

function hugeSvg(): Buffer {
  const shapes = Array.from({ length: 20_000 }, (_, index) => `<circle cx="${index}" cy="${index}" r="99999" fill="#${(index % 4096).toString(16).padStart(3, "0")}"/>`);
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100000 100000" width="100000" height="100000">${shapes.join("")}</svg>`);
}

describe("decoding uploads within bounds", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 6);
  let trained: TrainedBundle;
  let service: TestService;
  let strict: TestService;
  let watch: DecodeWatch;
  let strictWatch: DecodeWatch;
  let predictor: Predictor;
  let png6300: Buffer;
  const bundle = join(folder.path, "bundle");
  const serviceAdmission = createDecodeAdmission({ maxPixels: 40_000_000, decodeConcurrency: concurrency });

  before(async () => {
    trained = await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
    png6300 = await zeroPng(6300);
    const isIsoMedia = (bytes: Uint8Array) => Buffer.from(bytes.subarray(4, 8)).toString("latin1") === "ftyp";
    service = await startService({ maxBytes: 10_000_000, maxFiles: 16, decoding: serviceAdmission });
    // Decoding in as many face-path workers as permits, as `faceops serve` loads a model.
    predictor = await loadPredictor(bundle, { config: trained.config, log: silentLogger(), workers: concurrency });
    watch = watchDecodes(predictor, isIsoMedia);
    service.slot.install(predictor, "v1");
    // The same model behind a stricter pixel limit, one decode at a time.
    strict = await startService({ maxBytes: 10_000_000, maxFiles: 16, decoding: createDecodeAdmission({ maxPixels: 10_000_000, decodeConcurrency: 1 }) });
    const strictPredictor = await loadPredictor(bundle, { config: trained.config, log: silentLogger(), workers: 1 });
    strictWatch = watchDecodes(strictPredictor);
    strict.slot.install(strictPredictor, "v1");
  });
  after(async () => {
    await service?.close();
    await strict?.close();
    repo.dispose();
    folder.dispose();
  });

  test("one request of 16 all-zero 6300x6300 PNGs: answered, never more than serve.decodeConcurrency decoded at once", async () => {
    assert.ok(png6300.length < 200_000, `each PNG is ${png6300.length} bytes and declares 39.7 MP`);
    watch.reset();
    const { status, body } = await postPhotos(`${service.url}/v1/predict`, Array.from({ length: 16 }, () => png6300));
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal((body.results as unknown[]).length, 16);
    assert.equal(watch.calls, 16);
    assert.equal(watch.peak, concurrency, `${watch.peak} photos were decoded at once`);
    assert.ok(serviceAdmission.decodes.peak <= concurrency);
  });

  test("14 concurrent single uploads share the same bound", async () => {
    watch.reset();
    const answers = await Promise.all(Array.from({ length: 14 }, () => postPhotos(`${service.url}/v1/predict`, [png6300])));
    assert.deepEqual(answers.map((answer) => answer.status), Array.from({ length: 14 }, () => 200));
    assert.equal(watch.calls, 14);
    assert.ok(watch.peak <= concurrency, `${watch.peak} photos were decoded at once`);
    assert.ok(serviceAdmission.decodes.peak <= concurrency);
  });

  test("what the model is given was decoded at most 2048 pixels on a side", async () => {
    assert.equal(predictionDecodeSide, 2048);
    const square = await predictor.decode(png6300, { maxPixels: 40_000_000 });
    assert.deepEqual([square.width, square.height], [2048, 2048]);
    const wide = await sharp({ create: { width: 6000, height: 4000, channels: 3, background: "#808080" } }).jpeg().toBuffer();
    const landscape = await predictor.decode(wide, { maxPixels: 40_000_000 });
    assert.deepEqual([landscape.width, landscape.height], [2048, 1365]);
  });

  test("a photo over serve.maxPixels gets 400 image_too_large from its header, and nothing in the request is decoded", async () => {
    strictWatch.reset();
    const small = await zeroPng(200);
    const { status, body } = await postPhotos(`${strict.url}/v1/predict`, [small, png6300]);
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(errorCode(body), "image_too_large");
    assert.match(errorMessage(body), /photo 2: the image declares 6300x6300 pixels, over the serving limit of 10000000 \(serve\.maxPixels\)/);
    assert.equal(strictWatch.calls, 0, "the first photo was decoded although the request was already lost");
    const v2 = await fetch(`${strict.url}/v2/models/faces/infer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "image", shape: [1], datatype: "BYTES", data: [png6300.toString("base64")] }] }),
    });
    const v2Body = (await v2.json()) as Record<string, unknown>;
    assert.equal(v2.status, 400);
    assert.equal(errorCode(v2Body), "image_too_large");
    assert.equal(strictWatch.calls, 0);
  });

  test("an SVG with a huge viewBox gets 400 invalid_image and is never decoded, over v1 and v2", async () => {
    const svg = hugeSvg();
    assert.ok(svg.length > 1_000_000);
    watch.reset();
    const v1 = await postPhotos(`${service.url}/v1/predict`, [svg, svg, svg, svg], "image/svg+xml");
    assert.equal(v1.status, 400, JSON.stringify(v1.body));
    assert.equal(errorCode(v1.body), "invalid_image");
    assert.match(errorMessage(v1.body), /photo 1: the file is an SVG drawing, not a photo/);
    const v2 = await fetch(`${service.url}/v2/models/faces/infer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "image", shape: [1], datatype: "BYTES", data: [svg.toString("base64")] }] }),
    });
    assert.equal(v2.status, 400);
    assert.equal(errorCode((await v2.json()) as Record<string, unknown>), "invalid_image");
    assert.equal(watch.calls, 0, "the SVG reached the decoder");
  });

  test("16 PGMs of 10 MB in one request: each decoded shrunk, never more than serve.decodeConcurrency at once", async () => {
    const pgm = bigPgm();
    assert.ok(pgm.length > 9_900_000 && pgm.length <= 10_000_000);
    const decoded = await predictor.decode(pgm, { maxPixels: 40_000_000 });
    assert.deepEqual([decoded.width, decoded.height], [2048, 1862]);
    watch.reset();
    const { status, body } = await postPhotos(`${service.url}/v1/predict`, Array.from({ length: 16 }, () => pgm), "image/x-portable-graymap");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal((body.results as unknown[]).length, 16);
    assert.ok(watch.peak <= concurrency, `${watch.peak} PGMs were decoded at once`);
  });

  test("an AVIF that must be decoded whole takes every permit: nothing else is decoded beside it", async () => {
    const avif = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: "#000000" } }).avif({ effort: 0 }).toBuffer();
    assert.equal(decodePermits({ format: "avif", width: 4000, height: 4000 }, serviceAdmission), concurrency);
    assert.equal(decodePermits({ format: "png", width: 6300, height: 6300 }, serviceAdmission), 1);
    watch.reset();
    const { status, body } = await postPhotos(`${service.url}/v1/predict`, [png6300, avif, png6300, png6300], "image/avif");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(watch.calls, 4);
    assert.equal(watch.overlapsWithExclusive, 0, "a photo was decoded beside the AVIF");
  });
});

describe("serving limits in the configuration", () => {
  const serveWith = async (settings: Record<string, string>) =>
    (await loadConfig({ overrides: Object.entries(settings).map(([key, value]) => ({ key, value, origin: "test" })) })).config.serve;

  test("serve.maxPixels and serve.decodeConcurrency are bounded, and auto means one per face-path worker (engine.workers), at least 1", async () => {
    assert.deepEqual(await serveWith({ "serve.maxPixels": "12000000", "serve.decodeConcurrency": "3" }).then((serve) => [serve.maxPixels, serve.decodeConcurrency]), [12_000_000, 3]);
    for (const [key, value] of [
      ["serve.maxPixels", "0"],
      ["serve.maxPixels", "100000001"],
      ["serve.decodeConcurrency", "0"],
      ["serve.decodeConcurrency", "65"],
      ["serve.decodeConcurrency", "many"],
    ] as const) {
      await assert.rejects(serveWith({ [key]: value }), new RegExp(key.replace(".", "\\.")), `${key}=${value} was accepted`);
    }
    assert.equal(resolveDecodeConcurrency("auto", 1), 1);
    assert.equal(resolveDecodeConcurrency("auto", 2), 2);
    assert.equal(resolveDecodeConcurrency("auto", 12), 12);
    // No worker threads (engine.workers 0): photos are still decoded, one at a time, on the main thread.
    assert.equal(resolveDecodeConcurrency("auto", 0), 1);
    assert.equal(resolveDecodeConcurrency(9, 2), 9);
    assert.equal(resolveDecodeConcurrency("auto"), resolveEngineWorkers("auto"));
  });
});
