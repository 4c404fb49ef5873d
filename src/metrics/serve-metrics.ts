import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { defaultModelName } from "../model/bundle.js";
import { noFaceLabel, unknownLabel, type PhotoPrediction } from "../model/predictor.js";
import { registerProcessMetrics } from "./process-metrics.js";

/**
 * Every metric the inference service exposes, declared once on an injected registry, so each test
 * (and each server in one process) gets its own. Names follow Prometheus conventions; the predict
 * latency keeps KServe's name, request_predict_seconds, so existing KServe dashboards work.
 *
 * Label names are the ones the most used instrumentation already gives these facts, so queries and
 * dashboards written for other services read ours: the model is `model_name` (KServe), the HTTP
 * method and status are `method` and `code` (client_golang's promhttp). Label values are bounded and
 * never personal: faces are personal data, so no metric carries a person's name (the label a model
 * answers) or a path, only whether the answer was a known person (`outcome`).
 */
export interface ServeMetrics {
  registry: Registry;
  httpDuration: Histogram<"method" | "route" | "code">;
  httpErrors: Counter<"code" | "reason">;
  inFlight: Gauge;
  predictSeconds: Histogram<"model_name">;
  predictions: Counter<"model_name" | "outcome">;
  predictionScore: Histogram<"model_name">;
  unknownPredictions: Counter<"model_name">;
  facesPerPhoto: Histogram<"model_name">;
  tooSmallFaces: Counter<"model_name">;
  batchSize: Histogram<"model_name">;
  modelInfo: Gauge<"model_name" | "version" | "dataset_commit" | "backbone">;
  modelLoadedAt: Gauge<"model_name" | "version">;
  modelLoadFailures: Counter<"model_name">;
  capturedFaces: Counter<"reason">;
  captureDropped: Counter<"reason">;
  captureStopped: Gauge;
}

/**
 * What faceops_predictions_total counts an answer as: a face of a person the model knows, a face of
 * a stranger, or a photo with no face big enough to name.
 */
export type PredictionOutcome = "known" | "unknown" | "no_face";

export function createServeMetrics(registry: Registry, options: { defaultMetrics?: boolean } = {}): ServeMetrics {
  if (options.defaultMetrics ?? true) registerProcessMetrics(registry);
  const metrics: ServeMetrics = {
    registry,
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP requests by method, route template and HTTP status code (code).",
      labelNames: ["method", "route", "code"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    httpErrors: new Counter({
      name: "faceops_http_request_errors_total",
      help: "Requests answered with an error, by HTTP status code (code) and faceops error code (reason).",
      labelNames: ["code", "reason"],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: "faceops_http_requests_in_flight", help: "HTTP requests being served right now.", registers: [registry] }),
    predictSeconds: new Histogram({
      name: "request_predict_seconds",
      help: "Time to predict one request, from decoded photos to answer (KServe's metric name).",
      labelNames: ["model_name"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10],
      registers: [registry],
    }),
    predictions: new Counter({
      name: "faceops_predictions_total",
      help: "Answers, by model and outcome: a face of a person the model was trained on (known), a face of a stranger (unknown), or a photo with no face to name (no_face).",
      labelNames: ["model_name", "outcome"],
      registers: [registry],
    }),
    predictionScore: new Histogram({
      name: "faceops_prediction_score",
      help: "Probability of the top label of each face named.",
      labelNames: ["model_name"],
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
      registers: [registry],
    }),
    unknownPredictions: new Counter({
      name: "faceops_unknown_predictions_total",
      help: "Faces of people the model was not trained on (answered with the label unknown).",
      labelNames: ["model_name"],
      registers: [registry],
    }),
    facesPerPhoto: new Histogram({
      name: "faceops_faces_per_photo",
      help: "Faces found in each photo answered (also those beyond maxFaces); photos of models that do not detect faces are not counted.",
      labelNames: ["model_name"],
      buckets: [0, 1, 2, 3, 4, 6, 8, 10, 20, 50],
      registers: [registry],
    }),
    capturedFaces: new Counter({
      name: "faceops_capture_faces_total",
      help: "Faces kept in the inbox for review (serve.capture), by why: unknown, or named with a small margin (low_margin).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    captureDropped: new Counter({
      name: "faceops_capture_dropped_total",
      help: "Faces the inbox let go: evicted for room (full), older than maxAgeDays (expired), offered while the write queue was full (busy), or lost to a failed write (failed).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    captureStopped: new Gauge({
      name: "faceops_capture_stopped",
      help: "1 when face capture stopped because the inbox could not be written (full or read-only disk); 0 otherwise.",
      registers: [registry],
    }),
    tooSmallFaces: new Counter({
      name: "faceops_faces_too_small_total",
      help: "Faces found but smaller than minFaceSize: listed with their box, not named.",
      labelNames: ["model_name"],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "faceops_inference_batch_size",
      help: "Photos per backbone call after micro-batching.",
      labelNames: ["model_name"],
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: "faceops_model_info",
      help: "The model in service (value 1), with its version, dataset commit and backbone.",
      labelNames: ["model_name", "version", "dataset_commit", "backbone"],
      registers: [registry],
    }),
    modelLoadedAt: new Gauge({
      name: "faceops_model_loaded_timestamp_seconds",
      help: "When the model in service was loaded, in seconds since the epoch.",
      labelNames: ["model_name", "version"],
      registers: [registry],
    }),
    modelLoadFailures: new Counter({
      name: "faceops_model_load_failures_total",
      help: "Model bundles that failed to load or verify (the previous model kept serving).",
      labelNames: ["model_name"],
      registers: [registry],
    }),
  };
  // A series from the start, so "no failures" reads 0 rather than nothing (dashboards, alerts).
  metrics.modelLoadFailures.inc({ model_name: defaultModelName }, 0);
  return metrics;
}

/**
 * Counts one photo a model answered: the faces found in it, each face named (known or unknown), the
 * faces too small to name, and the photo when it had no face to name. The person's name the model
 * answered stays out of every label: the counters say only whether it was someone the model knows.
 */
export function recordPhotoPrediction(metrics: ServeMetrics, modelName: string, photo: PhotoPrediction): void {
  const model = { model_name: modelName };
  if (photo.facesFound !== null) metrics.facesPerPhoto.observe(model, photo.facesFound);
  for (const face of photo.faces) {
    if (face.tooSmall) {
      metrics.tooSmallFaces.inc(model);
      continue;
    }
    const outcome: PredictionOutcome = face.label === unknownLabel ? "unknown" : "known";
    metrics.predictions.inc({ ...model, outcome });
    metrics.predictionScore.observe(model, face.score);
    if (outcome === "unknown") metrics.unknownPredictions.inc(model);
  }
  if (photo.label === noFaceLabel) metrics.predictions.inc({ ...model, outcome: "no_face" });
}
