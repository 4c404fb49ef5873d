/**
 * How free the inference service's main thread stays while it predicts: the event-loop delay of
 * the thread that answers HTTP and the latency of /healthz, while autocannon sends photos to
 * /v1/predict at a fixed concurrency, with the face path on the main thread (--workers 0, as before
 * the face-path workers) and in worker threads.
 *
 *   npx tsx bench/serve-event-loop.ts [--workers 0,2] [--connections 8] [--seconds 20] [--warmup 3] [--backbone face-embedding] [--label <name>]
 *
 * The service runs in this process, built as `faceops serve` builds it (the same app, model slot,
 * micro-batcher and decode permits; serve.* defaults), on a bundle with face crops trained here on
 * three LFW people. Each setting is one level of bench/serve-load.ts from a separate process: a
 * warm-up, then the measured window, with the event-loop delay from the service's own
 * monitorEventLoopDelay histogram (its /metrics, reset when the window starts) and /healthz asked
 * every 50 ms from a worker thread of the load process (see bench/serve-probes.ts). Prints one JSON
 * line per setting and writes bench/results/serve-event-loop(-<label>).json. `npm run bench -- serve`
 * measures the same for `faceops serve` in its own process, at several levels, for both backbones.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
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
import { loadLevel } from "./serve-harness.js";

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: `0,${resolveDecodeConcurrency("auto")}` },
    connections: { type: "string", default: "8" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    backbone: { type: "string", default: "face-embedding" },
    label: { type: "string", default: "" },
  },
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const settings = values.workers.split(",").map(Number);
const maxBatch = 8;

const scratch = mkdtempSync(join(tmpdir(), "faceops-bench-event-loop-"));
let repo: TestRepo | null = null;
try {
  const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
  repo = faceRepo(people, 8);
  const bundle = join(scratch, "bundle");
  const trained = await trainBundle(repo.path, new StoreLayout(join(scratch, "store")), { "model.backbone": values.backbone, "train.augmentVariants": "0" }, bundle);
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
      const load = await loadLevel(running.url, photoPaths, { connections, seconds, warmupSeconds });
      const row = {
        workers,
        connections,
        cores: availableParallelism(),
        modelLoadMs: Math.round(loadMs),
        photosPerSecond: Math.round((load.requests / load.seconds) * 100) / 100,
        requests: load.requests,
        non2xx: load.non2xx,
        latencyMs: load.latency,
        eventLoopDelayMs: load.eventLoopDelayMs,
        healthzMs: load.healthzMs,
      };
      console.log(JSON.stringify(row));
      rows.push(row);
    } finally {
      await running.shutdown("bench over");
    }
  }
  const out = join(import.meta.dirname, "results", `serve-event-loop${values.label ? `-${values.label}` : ""}.json`);
  writeFileSync(out, `${JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, backbone: values.backbone, seconds, warmupSeconds, rows }, null, 2)}\n`);
} finally {
  repo?.dispose();
  rmSync(scratch, { recursive: true, force: true });
}
