import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
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

/**
 * The inference service under load. A VGG16 bundle (random weights: the cost is the same as with
 * ImageNet's) on centred crops, so the backbone is the work and everything else is the service's
 * overhead. `faceops serve` runs in its own process, as deployed; autocannon loads it from this one
 * at concurrency 1, 8 and 32 with raw JPEG bodies (eight different LFW photos in turn).
 *
 * The reference is the raw backbone in this process: photos/s of `Predictor.scores` on prepared
 * 224x224 images at batch 1 and at the service's maxBatch (8). Serving overhead at concurrency c
 * = 1 - served photos/s / raw photos/s at batch min(c, maxBatch): what HTTP, decoding, resizing,
 * batching and the head cost on top of the backbone.
 *
 * Then every face of a photo: a bundle on the default backbone (face-embedding, face crops) served
 * the same way, loaded at concurrency 8 with 1-face photos (LFW) and with 4-face photos (four LFW
 * photos in a 2x2 grid), each face detected, cropped, embedded and named: photos/s and faces/s.
 */

const maxBatch = 8;
const durationSeconds = 20;
const main = resolve(import.meta.dirname, "../src/cli/main.ts");

export async function benchServe(): Promise<BenchResult> {
  const scratch = mkdtempSync(join(tmpdir(), "faceops-bench-serve-"));
  let repo: TestRepo | null = null;
  try {
    const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
    repo = faceRepo(people, 8);
    const faces = repo.path;
    const store = new StoreLayout(join(scratch, "store"));
    const bundle = join(scratch, "bundle");
    const settings = { "model.backbone": "vgg16", "model.vgg16Weights": "random", "model.crop": "center", "train.augmentVariants": "0" };
    console.error("serve bench: training a VGG16 bundle (random weights)");
    await trainBundle(faces, store, settings, bundle);
    const photoPaths = people.flatMap((person) => lfwPhotos(person).slice(20, 23)).concat(lfwPhotos("Tony_Blair").slice(0, 2));
    const photos = photoPaths.map((path) => readFileSync(path));

    console.error("serve bench: the raw backbone at batch 1 and 8");
    const raw = await rawBackbone(bundle, store, settings, photos);
    const server = await startServer(bundle, store);
    const rows: BenchResult["rows"] = [
      { metric: "raw backbone + head, batch 1", value: raw.batch1, unit: "photos/s", note: raw.engine },
      { metric: `raw backbone + head, batch ${maxBatch}`, value: raw.batchMax, unit: "photos/s" },
    ];
    try {
      for (const connections of [1, 8, 32]) {
        console.error(`serve bench: VGG16, c=${connections} for ${durationSeconds} s`);
        const result = await load(server.url, photoPaths, connections);
        const reference = connections === 1 ? raw.batch1 : raw.batchMax;
        const served = result.requests / result.seconds;
        rows.push(
          { metric: `c=${connections}: served`, value: served, unit: "photos/s", note: `${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors` },
          { metric: `c=${connections}: p50 latency`, value: result.latency.p50, unit: "ms" },
          { metric: `c=${connections}: p99 latency`, value: result.latency.p99, unit: "ms", note: `max ${result.latency.max} ms` },
          { metric: `c=${connections}: p99 / p50`, value: result.latency.p99 / result.latency.p50, unit: "x", note: connections === 32 ? "target <= 3" : undefined },
          {
            metric: `c=${connections}: serving overhead`,
            value: (1 - served / reference) * 100,
            unit: "%",
            note: `vs raw batch ${connections === 1 ? 1 : maxBatch}${connections === 8 ? "; target <= 10%" : ""}`,
          },
        );
      }
    } finally {
      await server.stop();
    }
    rows.push(...(await benchFacesPerPhoto(scratch, faces, people)));
    return {
      name: "serve: the inference service under load (VGG16 224, random weights, centre crop; then every face of 1- and 4-face photos on the default backbone)",
      rows,
      environment: { maxBatch, durationSeconds, engine: raw.engine },
    };
  } finally {
    repo?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The default backbone on 1-face and 4-face photos at concurrency 8: photos/s and faces/s. */
async function benchFacesPerPhoto(scratch: string, faces: string, people: string[]): Promise<BenchResult["rows"]> {
  const store = new StoreLayout(join(scratch, "store-faces"));
  const bundle = join(scratch, "bundle-faces");
  console.error("serve bench: training a face-embedding bundle for the per-face rows");
  await trainBundle(faces, store, { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
  const single = people.flatMap((person) => lfwPhotos(person).slice(20, 24));
  const grids: string[] = [];
  for (let index = 0; index < 3; index++) {
    const tiles = people.flatMap((person) => lfwPhotos(person).slice(20 + index, 21 + index)).concat(lfwPhotos("Tony_Blair").slice(index, index + 1));
    const path = join(scratch, `four-faces-${index}.jpg`);
    writeFileSync(path, await photoGrid(tiles.map((tile) => readFileSync(tile)), 2));
    grids.push(path);
  }
  const server = await startServer(bundle, store);
  const rows: BenchResult["rows"] = [];
  try {
    for (const [name, paths] of [["1-face photos", single], ["4-face photos", grids]] as const) {
      // Faces per photo as the service finds them, not as the test meant them.
      let found = 0;
      for (const path of paths) {
        const answer = (await (await fetch(`${server.url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(path) })).json()) as { results: Array<{ facesFound: number }> };
        found += answer.results[0]?.facesFound ?? 0;
      }
      const perPhoto = found / paths.length;
      console.error(`serve bench: face-embedding, ${name} (${perPhoto.toFixed(2)} faces each), c=8 for ${durationSeconds} s`);
      const result = await load(server.url, paths, 8);
      const served = result.requests / result.seconds;
      rows.push(
        { metric: `face-embedding, ${name}, c=8: served`, value: served, unit: "photos/s", note: `${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors` },
        { metric: `face-embedding, ${name}, c=8: faces`, value: served * perPhoto, unit: "faces/s", note: `${perPhoto.toFixed(2)} faces found per photo` },
        { metric: `face-embedding, ${name}, c=8: p50 latency`, value: result.latency.p50, unit: "ms" },
      );
    }
  } finally {
    await server.stop();
  }
  rows.push(...(await benchCapture(bundle, store, scratch)));
  return rows;
}

/**
 * What keeping faces for review costs (serve.capture): strangers' photos, every face answered
 * "unknown" and so kept, at c=8 with capture off, then on (a fresh server and inbox for each).
 */
async function benchCapture(bundle: string, store: StoreLayout, scratch: string): Promise<BenchResult["rows"]> {
  const strangers = ["Tony_Blair", "Colin_Powell", "Ariel_Sharon"].flatMap((person) => lfwPhotos(person).slice(0, 4));
  const served: Record<"off" | "on", number> = { off: 0, on: 0 };
  const rows: BenchResult["rows"] = [];
  for (const state of ["off", "on"] as const) {
    const inboxStore = new StoreLayout(join(scratch, `store-capture-${state}`));
    const server = await startServer(bundle, inboxStore, ["--set", `serve.capture.enabled=${state === "on"}`]);
    try {
      console.error(`serve bench: face-embedding, strangers' photos, capture ${state}, c=8 for ${durationSeconds} s`);
      const result = await load(server.url, strangers, 8);
      served[state] = result.requests / result.seconds;
      rows.push({ metric: `face-embedding, strangers' photos, c=8, capture ${state}: served`, value: served[state], unit: "photos/s", note: `${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors` });
    } finally {
      await server.stop();
    }
    if (state === "on") {
      const kept = existsSync(join(inboxStore.inbox, "faces")) ? readdirSync(join(inboxStore.inbox, "faces")).length : 0;
      rows.push({ metric: "faces kept in the inbox during the capture-on run", value: kept, unit: "faces", note: "serve.capture.maxItems 500" });
    }
  }
  rows.push({ metric: "capture cost at c=8 (1 - on/off)", value: 1 - served.on / served.off, unit: "ratio", note: "target <= 0.05" });
  return rows;
}

/** Photos/s of the predictor's scores() (backbone + head) on prepared images, after a warm-up. */
async function rawBackbone(bundle: string, store: StoreLayout, settings: Record<string, string>, photos: Buffer[]) {
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
    return { batch1: await rate(1, 24), batchMax: await rate(maxBatch, 4), engine: predictor.metadata.backbone.engine };
  } finally {
    await predictor.dispose();
  }
}

async function startServer(bundle: string, store: StoreLayout, extra: readonly string[] = []): Promise<{ url: string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), main, "serve", "--model", bundle, "--port", "0", "--store", store.root, "--set", "serve.host=127.0.0.1", "--set", `serve.maxBatch=${maxBatch}`, "--log-format", "json", ...extra],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ["ignore", "ignore", "pipe"] },
  );
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buffered = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(buffered);
      if (match) resolveUrl(match[1] as string);
    });
    child.on("exit", (code) => reject(new Error(`faceops serve exited with ${code}: ${buffered}`)));
  });
  for (let attempt = 0; ; attempt++) {
    if ((await fetch(`${url}/readyz`).then((response) => response.status, () => 0)) === 200) break;
    if (attempt > 600) throw new Error(`${url} never became ready`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return {
    url,
    stop: () =>
      new Promise((resolveStop) => {
        child.on("exit", () => resolveStop());
        child.kill("SIGTERM");
      }),
  };
}

interface LoadResult {
  requests: number;
  seconds: number;
  non2xx: number;
  errors: number;
  latency: { p50: number; p99: number; max: number };
}

/** One concurrency level from a fresh client process (see bench/serve-load.ts for why). */
async function load(url: string, photoPaths: string[], connections: number): Promise<LoadResult> {
  const script = resolve(import.meta.dirname, "serve-load.ts");
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", import.meta.resolve("tsx"), script, url, String(connections), String(durationSeconds), ...photoPaths], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").pop() as string) as LoadResult;
}
