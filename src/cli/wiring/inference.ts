import type express from "express";
import type { Registry } from "prom-client";
import { createServeMetrics, type ServeMetrics } from "../../metrics/serve-metrics.js";
import { createApp } from "../../serve/app.js";
import { ModelSlot } from "../../serve/model-slot.js";
import { StoreFollower, type LoadOptions } from "../../serve/model-source.js";
import { resolveEngineWorkers } from "../../config/schema.js";
import { facePathRegistry, type FacePathRegistry } from "../../model/face-path/registry.js";
import type { FacePathWorkers } from "../../model/face-path/workers.js";
import { createDecodeAdmission } from "../../serve/predict.js";
import { FaceCapture } from "../../review/capture.js";
import type { Inbox } from "../../review/inbox.js";
import { ServeCapture } from "../../serve/capture.js";
import { systemClock } from "../../util/clock.js";
import { ReviewDecisions } from "../../review/decisions.js";
import { reviewRouter } from "../../serve/review-api.js";
import { readSecret, storeInbox, type CommandContext } from "../context.js";
import { faceopsVersion } from "../commands/version.js";
import type { StopStep } from "./run-until-signal.js";
import { tuneHeapGrowth } from "./heap-growth.js";

/**
 * The inference service as `serve` and `up` both run it, from the configuration: the model slot and
 * its metrics, the store follower that hot-swaps promoted versions, the app, and the order they stop
 * in once the server has finished its requests.
 */

export interface Inference {
  slot: ModelSlot;
  metrics: ServeMetrics;
  /** What loading a bundle into the slot needs. */
  loading: LoadOptions;
  /** Face capture for review (serve.capture): the writer and what the predict path offers faces to; null when off. */
  capture: { writer: FaceCapture; serving: ServeCapture } | null;
  /** The store's inbox, shared by capture, the review API and (in `up`) the review committer. */
  inbox: Inbox;
  /** The face-path worker pools the loaded versions share (face-path/registry.ts), ended last at shutdown. */
  facePaths: FacePathRegistry<FacePathWorkers>;
}

/**
 * The face-path worker threads the server's models run on: engine.workers ("auto": one per core;
 * 0: the face path on the main thread, for debugging), one pool shared by the versions that load
 * the same nets. serve.decodeConcurrency "auto" admits as many photos to decoding as there are
 * workers, so no admitted photo waits for a thread.
 */
export function inferenceWorkers(context: CommandContext): number {
  return resolveEngineWorkers(context.loaded.config.engine.workers);
}

/**
 * An empty slot and the service's metrics on `registry`. First, before any face-path worker starts,
 * V8's heap growth for a long-running service (heap-growth.ts).
 */
export function buildInference(context: CommandContext, registry: Registry): Inference {
  const heapGrowth = tuneHeapGrowth();
  context.log.debug({ heapGrowingPercent: heapGrowth ?? "set on the command line" }, "V8 heap growing factor");
  const { config } = context.loaded;
  const metrics = createServeMetrics(registry);
  const inbox = storeInbox(context);
  // One registry for every version this server loads: a hot swap to a version of the same backbone keeps the running threads.
  const facePaths = facePathRegistry(context.log);
  return {
    slot: new ModelSlot({ maxBatch: config.serve.maxBatch, maxDelayMs: config.serve.maxDelayMs }, metrics, context.log),
    metrics,
    loading: { config, log: context.log, workers: inferenceWorkers(context), facePaths },
    capture: buildCapture(context, metrics, inbox),
    inbox,
    facePaths,
  };
}

/** Follows the store's current-version pointer into the slot (started by the caller). */
export function followStore(context: CommandContext, inference: Inference): StoreFollower {
  const { slot, metrics, loading } = inference;
  return new StoreFollower({ ...loading, store: context.store, slot, metrics, checkIntervalMs: context.loaded.config.serve.checkInterval });
}

/** The inference app with the configured limits; `routers` are served by the same app (the controller's API in `up`). */
export function inferenceApp(context: CommandContext, inference: Inference, routers: express.Router[] = [], hooks: { onReviewDecision?: () => void } = {}): express.Express {
  const { serve } = context.loaded.config;
  return createApp({
    slot: inference.slot,
    metrics: inference.metrics,
    log: context.log,
    limits: { maxBytes: serve.maxBodyBytes, maxFiles: serve.maxImagesPerRequest },
    maxBufferedBytes: serve.maxBufferedBytes,
    decoding: createDecodeAdmission(serve, inferenceWorkers(context)),
    serverVersion: faceopsVersion(),
    routers: [...routers, reviewApi(context, inference, hooks.onReviewDecision)],
    capture: inference.capture?.serving ?? null,
  });
}

/** Face capture for review (serve.capture), with its metrics; null when it is off. */
function buildCapture(context: CommandContext, metrics: ServeMetrics, inbox: Inbox): Inference["capture"] {
  const { capture } = context.loaded.config.serve;
  if (!capture.enabled) return null;
  const writer = new FaceCapture(inbox, {
    clock: systemClock,
    log: context.log,
    events: {
      captured: (reason) => metrics.capturedFaces.inc({ reason }),
      dropped: (reason, count) => metrics.captureDropped.inc({ reason }, count),
      stopped: () => metrics.captureStopped.set(1),
    },
  });
  context.log.info({ inbox: inbox.root, maxItems: capture.maxItems, maxAgeDays: capture.maxAgeDays, keepPhoto: capture.keepPhoto }, "keeping faces the service cannot name for review (serve.capture)");
  return { writer, serving: new ServeCapture(writer, { lowMargin: capture.lowMargin, keepPhoto: capture.keepPhoto }) };
}

/** Stopping the service behind a closed server: no more swaps, then the models and their worker threads. */
export function stopInference(inference: Inference, follower: StoreFollower | null): StopStep[] {
  return [
    ...(follower ? [{ what: "the store follower", stop: () => follower.stop() }] : []),
    ...(inference.capture ? [{ what: "the faces still being kept for review", stop: () => (inference.capture as { writer: FaceCapture }).writer.drain() }] : []),
    { what: "the models and their worker threads", stop: () => inference.slot.close() },
    // Every model has given its lease back by now; this ends a pool a load still held when the follower stopped.
    { what: "the face-path worker threads", stop: () => inference.facePaths.close() },
  ];
}

/** Review of the kept faces over HTTP (the API token's routes); served whether capture is on or not, so faces kept earlier can be reviewed. */
function reviewApi(context: CommandContext, inference: Inference, onDecision?: () => void): express.Router {
  const { config } = context.loaded;
  return reviewRouter({
    inbox: inference.inbox,
    decisions: new ReviewDecisions(context.store.inbox),
    slot: inference.slot,
    apiToken: readSecret(context, "FACEOPS_API_TOKEN", config.controller.apiTokenFile, "API token"),
    clock: systemClock,
    log: context.log,
    onDecision,
  });
}
