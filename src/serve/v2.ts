import { Router, type Request, type Response } from "express";
import type { Logger } from "../log.js";
import type { ServeMetrics } from "../metrics/serve-metrics.js";
import { HttpError, type OnError } from "../http/errors.js";
import { inferenceJsonLimits, readJsonBody } from "./json-body.js";
import type { ModelSlot, ServedModel } from "./model-slot.js";
import type { ServeCapture } from "./capture.js";
import { predictPhotos, type DecodeAdmission } from "./predict.js";
import { openInferenceErrors, openInferenceNotFound } from "./v2/error-format.js";
import { parseInferRequest } from "./v2/infer-request.js";
import { inferResponse, modelMetadata, modelReady, serverMetadata } from "./v2/responses.js";

/**
 * The Open Inference Protocol (v2) REST API, as KServe and Triton serve it and as
 * kserve/open-inference-protocol's inference_rest.md writes it: health, server and model metadata,
 * model readiness, and infer with a BYTES input of base64-encoded photos (the tensors are in
 * v2/signature.ts). Every /v2 error, including a /v2 path no route serves, answers the protocol's
 * `{"error": "<message>"}` (plus faceops' `code`) through this router's own error handler.
 */

export interface OpenInferenceOptions {
  slot: ModelSlot;
  metrics: ServeMetrics;
  log: Logger;
  /** Counts each error answered, as the app counts its own. */
  onError?: OnError;
  /** The pixel limit and decode permits shared with /v1. */
  decoding: DecodeAdmission;
  /** Faces kept for review (serve.capture); absent: none. */
  capture?: ServeCapture | null;
  maxBytes: number;
  maxFiles: number;
  serverVersion: string;
}

const notReady = () => new HttpError(503, "model_not_ready", "no model is loaded yet", { "Retry-After": "5" });

/** The model a request's path names, if it is the one in service: 503 before any is loaded, 404 for another name or version. */
function requireModel(model: ServedModel | null, request: Request): ServedModel {
  if (!model) throw notReady();
  const name = String(request.params.name);
  if (name !== model.name) throw new HttpError(404, "model_not_found", `no model named "${name}"; this server serves "${model.name}"`);
  const version = request.params.version;
  if (version !== undefined && version !== model.version) {
    throw new HttpError(404, "model_version_not_found", `model "${name}" has no version "${String(version)}" in service; it serves ${model.version}`);
  }
  return model;
}

export function openInferenceRouter(options: OpenInferenceOptions): Router {
  const { slot, metrics } = options;
  const router = Router();

  router.get("/v2", (_request, response) => {
    response.json(serverMetadata(options.serverVersion));
  });
  router.get("/v2/health/live", (_request, response) => {
    response.json({ live: true });
  });
  // Not ready is 503 with {ready: false}: the spec makes these endpoints usable as a Kubernetes
  // readinessProbe, which fails only on a status of 400 or more.
  router.get("/v2/health/ready", (_request, response) => {
    const ready = slot.model !== null;
    response.status(ready ? 200 : 503).json({ ready });
  });

  const metadata = (request: Request, response: Response) => {
    response.json(modelMetadata(requireModel(slot.model, request)));
  };
  router.get("/v2/models/:name", metadata);
  router.get("/v2/models/:name/versions/:version", metadata);

  const ready = (request: Request, response: Response) => {
    if (!slot.model) {
      response.status(503).set("Retry-After", "5").json(modelReady(String(request.params.name), false));
      return;
    }
    const model = requireModel(slot.model, request);
    response.json(modelReady(model.name, true));
  };
  router.get("/v2/models/:name/ready", ready);
  router.get("/v2/models/:name/versions/:version/ready", ready);

  const infer = async (request: Request, response: Response) => {
    // The path is checked before the body is read: a request for a model or version not in
    // service is refused without reading, let alone parsing, what may be a very large body.
    requireModel(slot.model, request);
    const body = await readJsonBody(request, inferenceJsonLimits(options.maxBytes, options.maxFiles));
    const parsed = await parseInferRequest(body, { maxFiles: options.maxFiles, maxBytes: options.maxBytes });
    const model = slot.acquire();
    if (!model) throw notReady();
    try {
      // Checked again on the model this request holds: a swap may have happened while the body arrived.
      requireModel(model, request);
      const predictions = await predictPhotos(model, parsed.photos, 1, metrics, options.decoding, { limits: parsed.faceLimits, capture: options.capture });
      response.json(inferResponse(model, parsed, predictions));
    } finally {
      slot.release(model);
    }
  };
  router.post("/v2/models/:name/infer", infer);
  router.post("/v2/models/:name/versions/:version/infer", infer);

  router.use(openInferenceNotFound);
  router.use(openInferenceErrors(options.log, options.onError));
  return router;
}
