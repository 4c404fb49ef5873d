import { Router, type Request, type Response } from "express";
import type { ServeMetrics } from "../metrics/serve-metrics.js";
import { HttpError, badRequest } from "./errors.js";
import type { ModelSlot, ServedModel } from "./model-slot.js";
import { parseTopk, predictPhotos, type DecodeAdmission } from "./predict.js";

/**
 * The Open Inference Protocol (v2), as KServe and Triton define it: health, server and model
 * metadata, and infer with a BYTES input of base64-encoded photos. Outputs: FP32 scores (one row
 * per photo, one column per label, in the model's label order) and BYTES labels (the answer per
 * photo, "unknown" for strangers).
 */

interface InferInput {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown;
}

export function openInferenceRouter(options: { slot: ModelSlot; metrics: ServeMetrics; decoding: DecodeAdmission; maxBytes: number; maxFiles: number; serverVersion: string }): Router {
  const { slot, metrics } = options;
  const router = Router();

  router.get("/v2", (_request, response) => {
    response.json({ name: "faceops", version: options.serverVersion, extensions: [] });
  });
  router.get("/v2/health/live", (_request, response) => {
    response.json({ live: true });
  });
  router.get("/v2/health/ready", (_request, response) => {
    const ready = slot.model !== null;
    response.status(ready ? 200 : 503).json({ ready });
  });

  const withModel = (request: Request): ServedModel => {
    const model = slot.model;
    const name = String(request.params.name);
    if (!model) throw new HttpError(503, "model_not_ready", "no model is loaded yet", { "Retry-After": "5" });
    if (name !== model.name) throw new HttpError(404, "model_not_found", `no model named "${name}"; this server serves "${model.name}"`);
    const version = request.params.version;
    if (version !== undefined && version !== model.version) {
      throw new HttpError(404, "model_version_not_found", `model "${name}" has no version "${String(version)}" in service; it serves ${model.version}`);
    }
    return model;
  };

  const metadata = (request: Request, response: Response) => {
    const model = withModel(request);
    const { metadata } = model.predictor;
    response.json({
      name: model.name,
      versions: [model.version],
      platform: `faceops/${metadata.backbone.id}`,
      inputs: [{ name: "image", datatype: "BYTES", shape: [-1] }],
      outputs: [
        { name: "scores", datatype: "FP32", shape: [-1, metadata.labels.length] },
        { name: "labels", datatype: "BYTES", shape: [-1] },
      ],
      parameters: {
        labels: metadata.labels,
        dataset_commit: metadata.dataset.commit,
        dataset_fingerprint: metadata.dataset.fingerprint,
        test_accuracy: metadata.metrics.accuracy,
        backbone: metadata.backbone.id,
        created_at: metadata.createdAt,
        unknown_max_distance: model.predictor.maxDistance,
      },
    });
  };
  router.get("/v2/models/:name", metadata);
  router.get("/v2/models/:name/versions/:version", metadata);

  const ready = (request: Request, response: Response) => {
    withModel(request);
    response.json({ name: request.params.name, ready: true });
  };
  router.get("/v2/models/:name/ready", ready);
  router.get("/v2/models/:name/versions/:version/ready", ready);

  const infer = async (request: Request, response: Response) => {
    const body = await readJson(request, options.maxBytes * options.maxFiles * 1.4 + 65_536);
    const photos = photosFromInferRequest(body, options.maxFiles, options.maxBytes);
    const model = slot.acquire();
    if (!model) throw new HttpError(503, "model_not_ready", "no model is loaded yet", { "Retry-After": "5" });
    try {
      withModel(request);
      const labels = model.predictor.labels;
      const parameters = (body as { parameters?: Record<string, unknown> }).parameters ?? {};
      const predictions = await predictPhotos(model, photos, parseTopk(parameters.topk, labels.length), metrics, options.decoding);
      const scores = predictions.flatMap((prediction) => Array.from(prediction.probabilities));
      response.json({
        model_name: model.name,
        model_version: model.version,
        ...((body as { id?: unknown }).id !== undefined ? { id: (body as { id: unknown }).id } : {}),
        outputs: [
          { name: "scores", shape: [predictions.length, labels.length], datatype: "FP32", data: scores },
          { name: "labels", shape: [predictions.length], datatype: "BYTES", data: predictions.map((prediction) => prediction.label) },
        ],
      });
    } finally {
      slot.release(model);
    }
  };
  router.post("/v2/models/:name/infer", infer);
  router.post("/v2/models/:name/versions/:version/infer", infer);
  return router;
}

async function readJson(request: Request, limit: number): Promise<unknown> {
  const type = (request.headers["content-type"] ?? "application/json").toLowerCase();
  if (!type.startsWith("application/json")) {
    throw new HttpError(415, "unsupported_media_type", `an inference request is JSON; received content type "${type}"`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, "payload_too_large", `the request is larger than the limit of ${Math.round(limit)} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch (error) {
    throw badRequest("bad_json", `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Validates the infer request field by field; every error names the field. */
export function photosFromInferRequest(body: unknown, maxFiles: number, maxBytes: number): Buffer[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("bad_request", "the request body must be a JSON object");
  const inputs = (body as { inputs?: unknown }).inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest("bad_request", "inputs: expected a non-empty array");
  const input = inputs.find((candidate: InferInput) => candidate && candidate.name === "image") as InferInput | undefined;
  if (!input) throw badRequest("bad_request", 'inputs: no input named "image"');
  const index = inputs.indexOf(input);
  if (input.datatype !== "BYTES") throw badRequest("bad_request", `inputs[${index}].datatype: expected "BYTES", received ${JSON.stringify(input.datatype)}`);
  if (!Array.isArray(input.data) || input.data.length === 0) throw badRequest("bad_request", `inputs[${index}].data: expected a non-empty array of base64 strings`);
  if (input.data.length > maxFiles) throw new HttpError(413, "too_many_files", `inputs[${index}].data: at most ${maxFiles} photos per request, received ${input.data.length}`);
  if (!Array.isArray(input.shape) || input.shape.reduce((product: number, value) => product * Number(value), 1) !== input.data.length) {
    throw badRequest("bad_request", `inputs[${index}].shape: ${JSON.stringify(input.shape)} does not match ${input.data.length} data elements`);
  }
  return input.data.map((item, position) => {
    if (typeof item !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(item)) {
      throw badRequest("bad_request", `inputs[${index}].data[${position}]: expected a base64 string`);
    }
    const bytes = Buffer.from(item, "base64");
    if (bytes.length > maxBytes) throw new HttpError(413, "payload_too_large", `inputs[${index}].data[${position}]: the photo is larger than ${maxBytes} bytes`);
    return bytes;
  });
}
