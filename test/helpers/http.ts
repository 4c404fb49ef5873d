import { Registry } from "prom-client";
import { silentLogger, type Logger } from "../../src/log.js";
import { createServeMetrics, type ServeMetrics } from "../../src/metrics/serve-metrics.js";
import { createApp } from "../../src/serve/app.js";
import type { ServeCapture } from "../../src/serve/capture.js";
import { reviewRouter, type ReviewApiOptions } from "../../src/serve/review-api.js";
import { systemClock } from "../../src/util/clock.js";
import { ModelSlot } from "../../src/serve/model-slot.js";
import { createDecodeAdmission, type DecodeAdmission } from "../../src/serve/predict.js";
import { listen, type RunningServer } from "../../src/http/server.js";

/** The inference service on 127.0.0.1 with an ephemeral port, its slot and metrics exposed to the test. */
export interface TestService {
  url: string;
  slot: ModelSlot;
  metrics: ServeMetrics;
  running: RunningServer;
  close(): Promise<void>;
}

export async function startService(
  options: { maxBytes?: number; maxFiles?: number; maxBufferedBytes?: number; maxBatch?: number; maxDelayMs?: number; decoding?: DecodeAdmission; log?: Logger; capture?: ServeCapture; review?: Pick<ReviewApiOptions, "inbox" | "decisions" | "apiToken"> } = {},
): Promise<TestService> {
  const log = options.log ?? silentLogger();
  const metrics = createServeMetrics(new Registry());
  const slot = new ModelSlot({ maxBatch: options.maxBatch ?? 8, maxDelayMs: options.maxDelayMs ?? 5 }, metrics, log);
  const app = createApp({
    slot,
    metrics,
    log,
    limits: { maxBytes: options.maxBytes ?? 10_000_000, maxFiles: options.maxFiles ?? 16 },
    maxBufferedBytes: options.maxBufferedBytes,
    decoding: options.decoding ?? createDecodeAdmission({ maxPixels: 40_000_000, decodeConcurrency: 2 }),
    serverVersion: "test",
    capture: options.capture ?? null,
    routers: options.review ? [reviewRouter({ ...options.review, slot, clock: systemClock, log })] : [],
  });
  const running = await listen(app, { name: "inference service", port: 0, host: "127.0.0.1", graceMs: 5_000, log, onClosed: () => slot.close() });
  return { url: running.url, slot, metrics, running, close: () => running.shutdown("test over") };
}

export async function postImage(url: string, bytes: Uint8Array, type = "image/jpeg"): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": type }, body: bytes });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}
