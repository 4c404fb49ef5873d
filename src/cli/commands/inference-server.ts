import type express from "express";
import type { ServeMetrics } from "../../metrics/serve-metrics.js";
import { createApp } from "../../serve/app.js";
import type { ModelSlot } from "../../serve/model-slot.js";
import { createDecodeAdmission, resolveDecodeConcurrency } from "../../serve/predict.js";
import type { StoreFollower } from "../../serve/model-source.js";
import { listen, type RunningServer } from "../../http/server.js";
import type { CommandContext } from "../context.js";
import { faceopsVersion } from "./version.js";

/**
 * The face-path worker threads of every model the server loads: as many as photos may be decoded
 * at once (serve.decodeConcurrency, "auto": the cores, at most 4), so each decode permit has a
 * worker and no admitted photo waits for a thread.
 */
export function inferenceWorkers(context: CommandContext): number {
  return resolveDecodeConcurrency(context.loaded.config.serve.decodeConcurrency);
}

/** The inference app on the configured address, as `serve` and `up` both run it; on close it stops following and disposes the models. */
export function listenInference(context: CommandContext, parts: { slot: ModelSlot; metrics: ServeMetrics; follower: StoreFollower | null; routers?: express.Router[] }): Promise<RunningServer> {
  const { serve } = context.loaded.config;
  const { slot, metrics, follower } = parts;
  const app = createApp({
    slot,
    metrics,
    log: context.log,
    limits: { maxBytes: serve.maxBodyBytes, maxFiles: serve.maxImagesPerRequest },
    maxBufferedBytes: serve.maxBufferedBytes,
    decoding: createDecodeAdmission(serve),
    serverVersion: faceopsVersion(),
    routers: parts.routers,
  });
  return listen(app, {
    name: "inference service",
    port: serve.port,
    host: serve.host,
    graceMs: serve.gracePeriod,
    log: context.log,
    onClosed: async () => {
      await follower?.stop();
      await slot.close();
    },
  });
}
