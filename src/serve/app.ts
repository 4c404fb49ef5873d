import { readFileSync } from "node:fs";
import type express from "express";
import { createBareApp } from "../http/app.js";
import { HttpError, clientClosedRequest, useJsonErrors } from "../http/errors.js";
import { metricsRoute } from "../http/metrics-route.js";
import { probeRoutes, type Readiness } from "../http/probes.js";
import type { Logger } from "../log.js";
import type { ServeMetrics } from "../metrics/serve-metrics.js";
import { publicPhotoPrediction } from "../model/predictor.js";
import { BodyBudget } from "./body-budget.js";
import { inferenceJsonLimits } from "./json-body.js";
import type { ServeCapture } from "./capture.js";
import type { ModelSlot } from "./model-slot.js";
import { parseFaceLimits, parseTopk, predictPhotos, type DecodeAdmission } from "./predict.js";
import { readUploadedImages, type UploadLimits } from "./uploads.js";
import { openInferenceRouter } from "./v2.js";

/**
 * The inference service as an Express app, without listening (the server does that, and tests
 * drive the app on an ephemeral port). Every error is JSON, `{error: {code, message}}` (the Open
 * Inference Protocol's `{error: message, code}` under /v2), with a 4xx status when the client can
 * fix it; nothing a client sends can take the process down.
 */

export interface AppOptions {
  slot: ModelSlot;
  metrics: ServeMetrics;
  log: Logger;
  limits: UploadLimits;
  /** Request-body bytes held at once across all requests in progress (serve.maxBufferedBytes); unset: no such bound. */
  maxBufferedBytes?: number;
  /** The pixel limit and decode permits shared by every request of this server. */
  decoding: DecodeAdmission;
  serverVersion: string;
  /** More routes served by the same app, e.g. the controller's in `faceops up`. */
  routers?: express.Router[];
  /** Faces kept for review (serve.capture); absent: none. */
  capture?: ServeCapture | null;
}

const pagePath = new URL("./page/index.html", import.meta.url);

export function createApp(options: AppOptions): express.Express {
  const { slot, metrics, log } = options;
  const budget = options.maxBufferedBytes === undefined ? null : new BodyBudget(options.maxBufferedBytes);
  // The largest legal request is a /v2 one (its photos as base64 take 4/3 of their bytes).
  const largestRequest = inferenceJsonLimits(options.limits.maxBytes, options.limits.maxFiles).maxBytes;
  if (budget && budget.limitBytes < largestRequest) {
    log.warn({ maxBufferedBytes: budget.limitBytes, largestRequest }, "serve.maxBufferedBytes is smaller than the largest request serve.maxBodyBytes and serve.maxImagesPerRequest allow; such requests will be refused with 413");
  }
  const app = createBareApp();
  const page = readFileSync(pagePath, "utf8");

  app.use((request, response, next) => {
    metrics.inFlight.inc();
    const stop = metrics.httpDuration.startTimer();
    // 'close' comes once for every response, answered or not; 'finish' never comes for a client
    // that went away first, which left the request in flight forever. A response that did not
    // finish is recorded as 499, nginx's "client closed request": not a 500 (the server did not
    // fail), and not the status the handler may have set before the client left.
    response.once("close", () => {
      metrics.inFlight.dec();
      if (!response.writableFinished) response.statusCode = clientClosedRequest;
      const route = request.route ? `${request.baseUrl}${String((request.route as { path: string }).path)}` : "unmatched";
      stop({ method: request.method, route, code: String(response.statusCode) });
    });
    next();
  });
  if (budget) app.use(budget.perRequest);

  app.get("/", (_request, response) => {
    response.type("html").setHeader("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:");
    response.send(page);
  });
  app.use(probeRoutes(() => modelReadiness(slot)));
  app.use(metricsRoute(metrics.registry));

  app.get("/v1/model", (_request, response) => {
    const model = slot.model;
    if (!model) throw new HttpError(503, "model_not_ready", "no model is loaded yet", { "Retry-After": "5" });
    const { metadata } = model.predictor;
    response.json({
      name: model.name,
      version: model.version,
      loadedAt: model.loadedAt.toISOString(),
      labels: metadata.labels,
      accuracy: metadata.metrics.accuracy,
      balancedAccuracy: metadata.metrics.balancedAccuracy,
      backbone: metadata.backbone.id,
      dataset: { commit: metadata.dataset.commit, fingerprint: metadata.dataset.fingerprint, photos: metadata.dataset.photos, train: metadata.dataset.train, test: metadata.dataset.test },
      createdAt: metadata.createdAt,
      openSet: {
        maxDistance: model.predictor.maxDistance,
        knownRejectedRate: metadata.metrics.knownRejectedRate ?? null,
        confidentDistance: model.predictor.confidentDistance,
        source: metadata.openSet?.source ?? null,
        strangerRejectedRate: metadata.openSet?.test?.strangerRejection ?? metadata.openSet?.calibration?.strangerRejection ?? null,
      },
    });
  });

  app.post("/v1/predict", async (request, response) => {
    const photos = await readUploadedImages(request, options.limits);
    const model = slot.acquire();
    if (!model) throw new HttpError(503, "model_not_ready", "no model is loaded yet", { "Retry-After": "5" });
    try {
      const topk = parseTopk(request.query.topk, model.predictor.labels.length);
      const limits = parseFaceLimits(request.query);
      const predictions = await predictPhotos(model, photos, topk, metrics, options.decoding, { limits, capture: options.capture });
      response.json({
        model: { name: model.name, version: model.version },
        results: predictions.map(publicPhotoPrediction),
      });
    } finally {
      slot.release(model);
    }
  });

  // One count for every error answered, whichever protocol writes it.
  const countError = (status: number, code: string) => metrics.httpErrors.inc({ code: String(status), reason: code });
  app.use(openInferenceRouter({ slot, metrics, log, onError: countError, decoding: options.decoding, capture: options.capture, maxBytes: options.limits.maxBytes, maxFiles: options.limits.maxFiles, serverVersion: options.serverVersion }));

  for (const router of options.routers ?? []) app.use(router);

  useJsonErrors(app, log, countError);
  return app;
}

/** Ready once a model is loaded: the readiness a Deployment's rollout waits for before sending traffic. */
function modelReadiness(slot: ModelSlot): Readiness {
  const model = slot.model;
  if (!model) return { ready: false, reason: "no model is loaded yet", retryAfterSeconds: 5 };
  return { ready: true, detail: { model: { name: model.name, version: model.version } } };
}
