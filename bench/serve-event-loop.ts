/**
 * How free the inference service's main thread stays while it predicts: the event-loop delay of
 * the thread that answers HTTP (perf_hooks monitorEventLoopDelay) and the latency of /healthz,
 * while autocannon sends photos to /v1/predict at a fixed concurrency, with the face path on the
 * main thread (--workers 0, as before the face-path workers) and in worker threads.
 *
 *   npx tsx bench/serve-event-loop.ts [--workers 0,2] [--connections 8] [--seconds 20] [--label <name>]
 *
 * The service runs in this process, built as `faceops serve` builds it (the same app, model slot,
 * micro-batcher and decode permits; serve.* defaults), on a face-embedding bundle with face crops
 * trained here on three LFW people. The load comes from a separate process (bench/serve-load.ts);
 * /healthz is asked every 100 ms, one at a time on a new connection, from a worker thread of this
 * process with its own event loop. Prints one JSON line per setting and writes
 * bench/results/serve-event-loop(-<label>).json.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs, promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { Registry } from "prom-client";
import { silentLogger } from "../src/log.js";
import { createServeMetrics } from "../src/metrics/serve-metrics.js";
import { createApp } from "../src/serve/app.js";
import { ModelSlot } from "../src/serve/model-slot.js";
import { loadPredictor } from "../src/serve/model-source.js";
import { createDecodeAdmission, resolveDecodeConcurrency } from "../src/serve/predict.js";
import { listen } from "../src/http/server.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwPhotos } from "../test/helpers/lfw.js";
import { faceRepo, trainBundle } from "../test/helpers/training.js";
import type { TestRepo } from "../test/helpers/git-repo.js";

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: `0,${resolveDecodeConcurrency("auto")}` },
    connections: { type: "string", default: "8" },
    seconds: { type: "string", default: "20" },
    label: { type: "string", default: "" },
  },
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const settings = values.workers.split(",").map(Number);
const maxBatch = 8;

const scratch = mkdtempSync(join(tmpdir(), "faceops-bench-event-loop-"));
let repo: TestRepo | null = null;
try {
  const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
  repo = faceRepo(people, 8);
  const bundle = join(scratch, "bundle");
  const trained = await trainBundle(repo.path, new StoreLayout(join(scratch, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
  const photoPaths = people.flatMap((person) => lfwPhotos(person).slice(20, 23)).concat(lfwPhotos("Tony_Blair").slice(0, 2));
  const rows: unknown[] = [];
  for (const workers of settings) {
    const metrics = createServeMetrics(new Registry());
    const log = silentLogger();
    const slot = new ModelSlot({ maxBatch, maxDelayMs: trained.config.serve.maxDelayMs }, metrics, log);
    const app = createApp({
      slot,
      metrics,
      log,
      limits: { maxBytes: trained.config.serve.maxBodyBytes, maxFiles: trained.config.serve.maxImagesPerRequest },
      decoding: createDecodeAdmission(trained.config.serve),
      serverVersion: "bench",
    });
    const running = await listen(app, { name: "inference service", port: 0, host: "127.0.0.1", graceMs: 5_000, log, onClosed: () => slot.close() });
    try {
      const loadStarted = performance.now();
      slot.install(await loadPredictor(bundle, { config: trained.config, log, workers }), "v1");
      const loadMs = performance.now() - loadStarted;
      const delay = monitorEventLoopDelay({ resolution: 10 });
      const health = pollHealth(running.url);
      delay.enable();
      const load = await loadFrom(running.url, photoPaths);
      delay.disable();
      const healthReport = await health.stop();
      const row = {
        workers,
        connections,
        cores: availableParallelism(),
        modelLoadMs: Math.round(loadMs),
        photosPerSecond: Math.round((load.requests / load.seconds) * 100) / 100,
        requests: load.requests,
        non2xx: load.non2xx,
        latencyMs: load.latency,
        eventLoopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
        healthzMs: healthReport,
      };
      console.log(JSON.stringify(row));
      rows.push(row);
    } finally {
      await running.shutdown("bench over");
    }
  }
  const out = join(import.meta.dirname, "results", `serve-event-loop${values.label ? `-${values.label}` : ""}.json`);
  writeFileSync(out, `${JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, seconds, rows }, null, 2)}\n`);
} finally {
  repo?.dispose();
  rmSync(scratch, { recursive: true, force: true });
}

function ms(nanoseconds: number): number {
  return Math.round(nanoseconds / 1e4) / 100;
}

async function loadFrom(url: string, photoPaths: string[]): Promise<{ requests: number; seconds: number; non2xx: number; latency: { p50: number; p99: number; max: number } }> {
  const script = resolve(import.meta.dirname, "serve-load.ts");
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", import.meta.resolve("tsx"), script, url, String(connections), String(seconds), ...photoPaths], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop() as string) as { requests: number; seconds: number; non2xx: number; latency: { p50: number; p99: number; max: number } };
}

/** /healthz every 100 ms from a worker thread (its own event loop); p50, p99 and max in ms. */
function pollHealth(url: string): { stop(): Promise<{ checks: number; p50: number; p99: number; max: number }> } {
  const worker = new Worker(
    `
    const { get } = require("node:http");
    const { parentPort, workerData } = require("node:worker_threads");
    let running = true;
    parentPort.once("message", () => (running = false));
    const check = () => new Promise((resolve) => {
      const asked = performance.now();
      const request = get(workerData.url + "/healthz", { agent: false }, (response) => {
        response.resume();
        response.on("end", () => resolve(performance.now() - asked));
      });
      request.on("error", () => resolve(Infinity));
    });
    (async () => {
      const times = [];
      while (running) {
        times.push(await check());
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      times.sort((a, b) => a - b);
      const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
      const round = (value) => Math.round(value * 10) / 10;
      parentPort.postMessage({ checks: times.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(times[times.length - 1]) });
    })();
    `,
    { eval: true, workerData: { url } },
  );
  const report = new Promise<{ checks: number; p50: number; p99: number; max: number }>((done, failed) => {
    worker.once("message", done);
    worker.once("error", failed);
  });
  return {
    async stop() {
      worker.postMessage("stop");
      const result = await report;
      await worker.terminate();
      return result;
    },
  };
}
