import { mkdtempSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import { silentLogger } from "../src/log.js";
import { croppedFaces, Predictor } from "../src/model/predictor.js";
import type { RgbImage } from "../src/vision/image.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwPhotos } from "../test/helpers/lfw.js";
import { faceRepo, trainBundle } from "../test/helpers/training.js";
import { photoGrid } from "../test/helpers/composite.js";
import type { TestRepo } from "../test/helpers/git-repo.js";
import type { BenchResult } from "./result.js";
import { loadLevel, startServer, type LevelResult, type ServedBundle } from "./serve-harness.js";
import { serveBenchOptions, type ServeBenchOptions } from "./serve-options.js";

/**
 * The inference service under load. A VGG16 bundle (random weights: the cost is the same as with
 * ImageNet's) on centred crops, so the backbone is the work and everything else is the service's
 * overhead, in fp32 and in int8 (`model.precision`). `faceops serve` runs in its own process, as
 * deployed; autocannon loads it from a fresh process per level (bench/serve-load.ts) with raw JPEG
 * bodies (LFW photos in turn), after a warm-up that is not measured.
 *
 * The reference is the raw backbone in this process: photos/s of `Predictor.scores` on prepared
 * 224x224 images at batch 1 and at the service's maxBatch (8). Serving overhead at concurrency c
 * = 1 - served photos/s / raw photos/s at batch min(c, maxBatch): what HTTP, decoding, resizing,
 * batching and the head cost on top of the backbone.
 *
 * Then the default face backbone (face-embedding-mirrored, face crops), every face of a photo
 * detected, cropped, embedded and named: 1-face photos with one face-path worker
 * (engine.workers 1, which serve.decodeConcurrency auto follows) and with the default (one per core), at each level, and the ratio of
 * the two; 4-face photos (2x2 grids of LFW photos) with the default; and what keeping faces for
 * review costs (serve.capture off, then on).
 *
 * At every level, beside photos/s and latency: the service's event-loop delay (p99 of its own
 * monitorEventLoopDelay histogram, reset when the measured window starts) and /healthz latency
 * asked from a thread that is not the load generator's event loop (see bench/serve-probes.ts).
 *
 *   npm run bench -- serve [--duration=<s>] [--warmup=<s>] [--levels=<c,...>] [--parts=fp32,int8,faces,capture]
 *
 * (the flags are in bench/serve-options.ts).
 */

const maxBatch = 8;
/**
 * VGG16's levels are measured for at least this long. Its batches of 8 take ~1.1 s, and a window
 * counts the requests answered within it: the batch still running when it closes is lost, half a
 * batch on average, which is 4.6% of a 12 s window against the raw backbone's whole batches (the
 * fp32 serving overhead read 13.8% in a 12 s window on 2026-12-05) and 1.8% of 30 s.
 */
const vgg16MinSeconds = 30;
/**
 * The face backbone's 1-face levels, whose one-worker and default figures make the workers' ratio,
 * are measured for at least this long: with 12 s windows (200-460 requests) the ratio of the same
 * code read 1.755x in one run and 1.884x in the next (2026-12-05), each figure spreading a few percent.
 */
const ratioMinSeconds = 30;
const faceBackbone = "face-embedding-mirrored";
type Rows = BenchResult["rows"];

export async function benchServe(options: ServeBenchOptions = serveBenchOptions(process.argv.slice(2))): Promise<BenchResult> {
  const loadAverageAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const started = performance.now();
  const scratch = mkdtempSync(join(tmpdir(), "faceops-bench-serve-"));
  let repo: TestRepo | null = null;
  try {
    const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
    repo = faceRepo(people, 8);
    const bench = new ServeBench(options, scratch, repo.path, people);
    const rows: Rows = [];
    const raw: Partial<Record<"fp32" | "int8", RawRates>> = {};
    const served: Partial<Record<"fp32" | "int8", Map<number, number>>> = {};
    for (const precision of ["fp32", "int8"] as const) {
      if (!options.parts.has(precision)) continue;
      const vgg16 = await bench.vgg16(precision);
      rows.push(...vgg16.rows);
      raw[precision] = vgg16.raw;
      served[precision] = vgg16.served;
    }
    if (raw.fp32 && raw.int8 && served.fp32 && served.int8) rows.push(...precisionRatios(raw.fp32, raw.int8, served.fp32, served.int8));
    if (options.parts.has("faces")) rows.push(...(await bench.faces()));
    if (options.parts.has("capture")) rows.push(...(await bench.capture()));
    return {
      name: `serve: the inference service under load (VGG16 224, random weights, centre crop, fp32 and int8; then ${faceBackbone} on 1- and 4-face photos, one face-path worker and the default)`,
      rows,
      environment: {
        maxBatch,
        durationSeconds: options.seconds,
        vgg16MinDurationSeconds: vgg16MinSeconds,
        workerRatioMinDurationSeconds: ratioMinSeconds,
        warmupSeconds: options.warmupSeconds,
        vgg16Levels: options.vgg16Levels,
        faceLevels: options.faceLevels,
        parts: [...options.parts],
        engine: raw.fp32?.engine ?? raw.int8?.engine ?? null,
        faceBackbone,
        workers: bench.workers,
        cores: availableParallelism(),
        loadAverageAtStart,
        loadAverageAtEnd: loadavg().map((load) => Math.round(load * 100) / 100),
        healthzIntervalMs: 50,
        eventLoopResolutionMs: 10,
        wallSeconds: Math.round((performance.now() - started) / 1000),
      },
    };
  } finally {
    repo?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface RawRates {
  batch1: number;
  batchMax: number;
  engine: string;
}

/** The parts of one run, sharing its scratch folder, the people's repository and the face bundle. */
class ServeBench {
  /** Face-path worker threads of each server, as the service reported them when it loaded its model. */
  readonly workers: Record<string, number | null> = {};
  private faceBundle: Promise<{ bundle: string; store: StoreLayout }> | null = null;

  constructor(
    private readonly options: ServeBenchOptions,
    private readonly scratch: string,
    private readonly repository: string,
    private readonly people: readonly string[],
  ) {}

  /** VGG16 at one precision: the raw backbone, then the service at each level. */
  async vgg16(precision: "fp32" | "int8"): Promise<{ rows: Rows; raw: RawRates; served: Map<number, number> }> {
    // The fp32 rows keep the names they always had, so runs before and after compare row by row.
    const prefix = precision === "fp32" ? "" : "VGG16 int8, ";
    const store = new StoreLayout(join(this.scratch, `store-vgg16-${precision}`));
    const bundle = join(this.scratch, `bundle-vgg16-${precision}`);
    const settings = { "model.backbone": "vgg16", "model.vgg16Weights": "random", "model.crop": "center", "model.precision": precision, "train.augmentVariants": "0" };
    progress(`training a VGG16 ${precision} bundle (random weights)`);
    await trainBundle(this.repository, store, settings, bundle);
    const photoPaths = this.people.flatMap((person) => lfwPhotos(person).slice(20, 23)).concat(lfwPhotos("Tony_Blair").slice(0, 2));
    progress(`VGG16 ${precision}: the raw backbone at batch 1 and ${maxBatch}`);
    const raw = await rawBackbone(bundle, store, settings, photoPaths.map((path) => readFileSync(path)));
    const rows: Rows = [
      { metric: `${prefix}raw backbone + head, batch 1`, value: raw.batch1, unit: "photos/s", note: raw.engine },
      { metric: `${prefix}raw backbone + head, batch ${maxBatch}`, value: raw.batchMax, unit: "photos/s" },
    ];
    const served = new Map<number, number>();
    const server = await startServer(bundle, store, maxBatch);
    this.workers[`VGG16 ${precision}`] = server.workers;
    try {
      for (const connections of this.options.vgg16Levels) {
        const result = await this.level(server, photoPaths, connections, `VGG16 ${precision}`, vgg16MinSeconds);
        const rate = result.requests / result.seconds;
        const reference = connections === 1 ? raw.batch1 : raw.batchMax;
        served.set(connections, rate);
        rows.push(
          ...levelRows(prefix, connections, result, {
            between: [
              { metric: `${prefix}c=${connections}: p99 / p50`, value: result.latency.p99 / result.latency.p50, unit: "x", note: connections === 32 ? "target <= 3" : undefined },
              {
                metric: `${prefix}c=${connections}: serving overhead`,
                value: (1 - rate / reference) * 100,
                unit: "%",
                note: `vs raw batch ${connections === 1 ? 1 : maxBatch}${connections === 8 ? "; target <= 10%" : ""}`,
              },
            ],
          }),
        );
      }
    } finally {
      await server.stop();
    }
    return { rows, raw, served };
  }

  /**
   * The face backbone on 1-face photos with one face-path worker and with the default, at each
   * level; then 4-face photos with the default at c=8.
   */
  async faces(): Promise<Rows> {
    const { bundle, store } = await this.trainedFaceBundle();
    const single = this.people.flatMap((person) => lfwPhotos(person).slice(20, 24));
    const grids: string[] = [];
    for (let index = 0; index < 3; index++) {
      const tiles = this.people.flatMap((person) => lfwPhotos(person).slice(20 + index, 21 + index)).concat(lfwPhotos("Tony_Blair").slice(index, index + 1));
      const path = join(this.scratch, `four-faces-${index}.jpg`);
      writeFileSync(path, await photoGrid(tiles.map((tile) => readFileSync(tile)), 2));
      grids.push(path);
    }
    const rows: Rows = [];
    const served: Record<"single" | "default", Map<number, number>> = { single: new Map(), default: new Map() };
    let defaultWorkers: number | null = null;
    for (const setting of ["single", "default"] as const) {
      const server = await startServer(bundle, store, maxBatch, setting === "single" ? ["--set", "engine.workers=1"] : []);
      try {
        // The ratio means nothing unless the single setting really ran one worker: say so loudly if
        // engine.workers stops deciding the workers' number.
        if (setting === "single" && server.workers !== 1) throw new Error(`serve bench: engine.workers=1 should start one face-path worker; the service reported ${String(server.workers)}`);
        if (setting === "default") defaultWorkers = server.workers;
        const workers = `${String(server.workers)} worker${server.workers === 1 ? "" : "s"}`;
        this.workers[`${faceBackbone}, ${setting === "single" ? "single worker" : "default"}`] = server.workers;
        const perPhoto = await facesPerPhoto(server.url, single);
        for (const connections of this.options.faceLevels) {
          const result = await this.level(server, single, connections, `${faceBackbone}, 1-face photos, ${workers}`, ratioMinSeconds);
          served[setting].set(connections, result.requests / result.seconds);
          const targets = setting === "default" && connections === 8 ? { eventLoopTarget: "target <= 20 ms", healthzTarget: "target <= 50 ms" } : {};
          rows.push(...levelRows(`${faceBackbone}, 1-face photos, ${workers}, `, connections, result, { ...targets, facesPerPhoto: perPhoto }));
        }
        if (setting === "default") {
          const perGrid = await facesPerPhoto(server.url, grids);
          const result = await this.level(server, grids, 8, `${faceBackbone}, 4-face photos (${perGrid.toFixed(2)} faces found each), ${workers}`);
          rows.push(...levelRows(`${faceBackbone}, 4-face photos, ${workers}, `, 8, result, { facesPerPhoto: perGrid }));
        }
      } finally {
        await server.stop();
      }
    }
    for (const connections of this.options.faceLevels) {
      const one = served.single.get(connections);
      const all = served.default.get(connections);
      if (one === undefined || all === undefined) continue;
      rows.push({
        metric: `${faceBackbone}, 1-face photos, c=${connections}: served, ${String(defaultWorkers)} workers / 1 worker`,
        value: all / one,
        unit: "x",
        note: connections === 8 ? "target >= 1.8" : undefined,
      });
    }
    return rows;
  }

  /**
   * What keeping faces for review costs (serve.capture): strangers' photos, every face answered
   * "unknown" and so kept, at c=8 with capture off, then on (a fresh server and inbox for each).
   */
  async capture(): Promise<Rows> {
    const { bundle } = await this.trainedFaceBundle();
    const strangers = ["Tony_Blair", "Colin_Powell", "Ariel_Sharon"].flatMap((person) => lfwPhotos(person).slice(0, 4));
    const served: Record<"off" | "on", number> = { off: 0, on: 0 };
    const rows: Rows = [];
    for (const state of ["off", "on"] as const) {
      const inboxStore = new StoreLayout(join(this.scratch, `store-capture-${state}`));
      const server = await startServer(bundle, inboxStore, maxBatch, ["--set", `serve.capture.enabled=${state === "on"}`]);
      try {
        const result = await this.level(server, strangers, 8, `${faceBackbone}, strangers' photos, capture ${state}`);
        served[state] = result.requests / result.seconds;
        rows.push({ metric: `${faceBackbone}, strangers' photos, c=8, capture ${state}: served`, value: served[state], unit: "photos/s", note: requestsNote(result) });
      } finally {
        await server.stop();
      }
      if (state === "on") {
        const kept = existsSync(join(inboxStore.inbox, "faces")) ? readdirSync(join(inboxStore.inbox, "faces")).length : 0;
        rows.push({ metric: "faces kept in the inbox during the capture-on run (warm-up included)", value: kept, unit: "faces", note: "serve.capture.maxItems 500" });
      }
    }
    rows.push({ metric: "capture cost at c=8 (1 - on/off)", value: 1 - served.on / served.off, unit: "ratio", note: "target <= 0.05" });
    return rows;
  }

  /** One level against a running server, announced before it starts; measured for the options' seconds, or `minSeconds` if longer. */
  private level(server: ServedBundle, photoPaths: readonly string[], connections: number, what: string, minSeconds = 0): Promise<LevelResult> {
    const { warmupSeconds } = this.options;
    const seconds = Math.max(this.options.seconds, minSeconds);
    progress(`${what}, c=${connections}: ${warmupSeconds} s warm-up, then ${seconds} s measured`);
    return loadLevel(server.url, photoPaths, { connections, seconds, warmupSeconds });
  }

  /** The face-backbone bundle, trained once for the face and capture parts. */
  private trainedFaceBundle(): Promise<{ bundle: string; store: StoreLayout }> {
    this.faceBundle ??= (async () => {
      const store = new StoreLayout(join(this.scratch, "store-faces"));
      const bundle = join(this.scratch, "bundle-faces");
      progress(`training a ${faceBackbone} bundle (face crops)`);
      await trainBundle(this.repository, store, { "model.backbone": faceBackbone, "train.augmentVariants": "0" }, bundle);
      return { bundle, store };
    })();
    return this.faceBundle;
  }
}

/**
 * The rows of one level, each metric named `<prefix>c=<n>: <what>`: served photos/s, p50 and p99
 * latency, then `between` (rows of the caller's about the same level), then faces/s when the faces
 * per photo are given, the event-loop delay and /healthz, with the targets' notes given.
 */
function levelRows(prefix: string, connections: number, result: LevelResult, extra: { between?: Rows; facesPerPhoto?: number; eventLoopTarget?: string; healthzTarget?: string } = {}): Rows {
  const at = `${prefix}c=${connections}`;
  const rate = result.requests / result.seconds;
  const loop = result.eventLoopDelayMs;
  const health = result.healthzMs;
  const rows: Rows = [
    { metric: `${at}: served`, value: rate, unit: "photos/s", note: requestsNote(result) },
    { metric: `${at}: p50 latency`, value: result.latency.p50, unit: "ms" },
    { metric: `${at}: p99 latency`, value: result.latency.p99, unit: "ms", note: `max ${result.latency.max} ms` },
    ...(extra.between ?? []),
  ];
  if (extra.facesPerPhoto !== undefined) rows.push({ metric: `${at}: faces`, value: rate * extra.facesPerPhoto, unit: "faces/s", note: `${extra.facesPerPhoto.toFixed(2)} faces found per photo` });
  rows.push(
    loop
      ? { metric: `${at}: event-loop delay p99`, value: loop.p99, unit: "ms", note: joinNotes(`p50 ${loop.p50} ms, max ${loop.max} ms`, extra.eventLoopTarget) }
      : { metric: `${at}: event-loop delay p99`, value: NaN, unit: "ms", note: "the service does not publish nodejs_eventloop_lag_p99_seconds" },
    { metric: `${at}: /healthz p99`, value: health.p99, unit: "ms", note: joinNotes(`p50 ${health.p50} ms, max ${health.max} ms, ${health.checks} checks, ${health.failed} failed`, extra.healthzTarget) },
  );
  return rows;
}

/** int8 beside fp32 in the same run: the raw backbone at batch maxBatch and the service at each level both ran. */
function precisionRatios(fp32: RawRates, int8: RawRates, servedFp32: Map<number, number>, servedInt8: Map<number, number>): Rows {
  const rows: Rows = [{ metric: `VGG16 int8 / fp32: raw backbone + head, batch ${maxBatch}`, value: int8.batchMax / fp32.batchMax, unit: "x" }];
  for (const [connections, rate] of servedInt8) {
    const reference = servedFp32.get(connections);
    if (reference !== undefined) rows.push({ metric: `VGG16 int8 / fp32, c=${connections}: served`, value: rate / reference, unit: "x" });
  }
  return rows;
}

function requestsNote(result: LevelResult): string {
  return `${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors; warm-up ${result.warmup.requests} requests, ${result.warmup.non2xx} non-2xx`;
}

function joinNotes(...notes: Array<string | undefined>): string {
  return notes.filter((note) => note !== undefined).join("; ");
}

function progress(message: string): void {
  console.error(`serve bench: ${message}`);
}

/** Faces per photo as the service finds them (its own facesFound), not as the bench meant them. */
async function facesPerPhoto(url: string, paths: readonly string[]): Promise<number> {
  let found = 0;
  for (const path of paths) {
    const response = await fetch(`${url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(path) });
    if (!response.ok) throw new Error(`serve bench: ${path} was answered ${response.status}: ${await response.text()}`);
    const answer = (await response.json()) as { results: Array<{ facesFound: number }> };
    found += answer.results[0]?.facesFound ?? 0;
  }
  return found / paths.length;
}

/** Photos/s of the predictor's scores() (backbone + head) on prepared images, after a warm-up. */
async function rawBackbone(bundle: string, store: StoreLayout, settings: Record<string, string>, photos: Buffer[]): Promise<RawRates> {
  const { config } = await loadConfig({ overrides: Object.entries({ store: store.root, ...settings }).map(([key, value]) => ({ key, value, origin: "bench" })) });
  const predictor = await Predictor.load(bundle, { config, log: silentLogger() });
  try {
    const prepared: RgbImage[] = [];
    // The main face of each photo (LFW photos have one face each; the first listed is the largest).
    for (const photo of photos) prepared.push(...croppedFaces(await predictor.prepare(photo)).slice(0, 1));
    const rate = async (batch: number, rounds: number) => {
      const images = Array.from({ length: batch }, (_, index) => prepared[index % prepared.length] as RgbImage);
      await predictor.scores(images);
      const started = performance.now();
      for (let round = 0; round < rounds; round++) await predictor.scores(images);
      return (batch * rounds) / ((performance.now() - started) / 1000);
    };
    // Eight batches of 8 (~9 s of fp32): the reference of every overhead row, so measured as long as a level.
    return { batch1: await rate(1, 24), batchMax: await rate(maxBatch, 8), engine: predictor.metadata.backbone.engine };
  } finally {
    await predictor.dispose();
  }
}
