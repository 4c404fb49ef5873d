import { resolveEngineWorkers } from "../config/schema.js";
import { recordPhotoPrediction, type ServeMetrics } from "../metrics/serve-metrics.js";
import { croppedFaces, defaultMaxFaces, defaultMinFaceSize, maxFacesLimit, minFaceSizeLimit, predictionDecodeSide, type PhotoPrediction } from "../model/predictor.js";
import { Semaphore } from "../util/semaphore.js";
import { wholeNumberIn } from "../util/whole-number.js";
import { decodeMemoryEstimate, ImageDecodeError, readImageHeader, type ImageHeader } from "../vision/decode.js";
import { HttpError } from "../http/errors.js";
import type { ServeCapture } from "./capture.js";
import type { ServedModel } from "./model-slot.js";

/**
 * One request's photos through one model: admit each from its header (a bad or oversized photo is
 * the client's fault: 400, and nothing is decoded), decode and crop each while holding the process's
 * decode permits (in the model's face-path workers, when it has them: an ImageDecodeError comes
 * back from a worker as itself), then score them through the model's micro-batcher, so concurrent
 * requests share backbone calls. Counts every prediction in the metrics. The photos are handed
 * over: their buffers may be moved to a worker thread, and are empty afterwards.
 */

/**
 * The bound on decoding shared by every request (v1 and v2) and every model of one server: photos
 * over `maxPixels` are refused from their header, and the photos being decoded and cropped at once
 * hold at most `decodes.permits` permits between them. An ordinary photo takes one permit; one
 * whose decoder must hold the whole picture (a large AVIF or GIF) takes one per `permitBytes` of
 * its estimated memory, up to all of them, so it is decoded alone.
 */
export interface DecodeAdmission {
  readonly maxPixels: number;
  readonly decodes: Semaphore;
}

/*
 * What one permit stands for: one photo shrunk to 2048 pixels while decoding (~45 MB in libvips,
 * see decodeMemoryEstimate) plus its face detection input (the photo at 1024 with a border, as
 * bytes and as an int32 tensor: ~35 MB).
 */
const permitBytes = 96 * 1024 * 1024;

/**
 * serve.decodeConcurrency "auto": one decode per face-path worker (engine.workers, resolved), so
 * every photo admitted to decoding finds a worker free and none waits for a permit while a worker
 * idles; at least 1, for a server with no worker threads (engine.workers 0). `workers` defaults to
 * engine.workers "auto": one per core.
 */
export function resolveDecodeConcurrency(setting: number | "auto", workers = resolveEngineWorkers("auto")): number {
  return setting === "auto" ? Math.max(1, workers) : setting;
}

export function createDecodeAdmission(settings: { maxPixels: number; decodeConcurrency: number | "auto" }, workers?: number): DecodeAdmission {
  return { maxPixels: settings.maxPixels, decodes: new Semaphore(resolveDecodeConcurrency(settings.decodeConcurrency, workers)) };
}

/** The permits decoding a photo with this header takes (1..all). */
export function decodePermits(header: ImageHeader, admission: DecodeAdmission): number {
  const estimate = decodeMemoryEstimate(header, { maxSide: predictionDecodeSide });
  return Math.min(admission.decodes.permits, Math.max(1, Math.ceil(estimate / permitBytes)));
}

/** How many faces of a photo are answered, and the smallest that is named (a request's parameters). */
export interface FaceLimits {
  maxFaces: number;
  minFaceSize: number;
}

export async function predictPhotos(
  model: ServedModel,
  photos: readonly Buffer[],
  topk: number,
  metrics: ServeMetrics,
  admission: DecodeAdmission,
  options: { limits?: FaceLimits; capture?: ServeCapture | null } = {},
): Promise<PhotoPrediction[]> {
  const limits = options.limits ?? { maxFaces: defaultMaxFaces, minFaceSize: defaultMinFaceSize };
  const capture = options.capture ?? null;
  const refuse = (error: unknown, index: number): never => {
    if (error instanceof ImageDecodeError) {
      const which = photos.length > 1 ? `photo ${index + 1}: ` : "";
      throw new HttpError(400, error.code === "too_large" ? "image_too_large" : "invalid_image", `${which}${error.message}`);
    }
    throw error;
  };
  // 1. Every photo's header before any decoding, so one refused photo costs the request nothing more.
  const headers = await Promise.all(
    photos.map(async (bytes, index) => {
      try {
        const header = await readImageHeader(bytes);
        if (header.width * header.height > admission.maxPixels) {
          throw new ImageDecodeError("too_large", `the image declares ${header.width}x${header.height} pixels, over the serving limit of ${admission.maxPixels} (serve.maxPixels)`);
        }
        return header;
      } catch (error) {
        return refuse(error, index);
      }
    }),
  );
  // 2. Decode and crop under the process-wide permits. Once one photo fails the request is lost,
  //    so photos still waiting for permits are not decoded at all.
  let failed = false;
  const prepared = await Promise.all(
    photos.map(async (bytes, index) => {
      try {
        return await admission.decodes.use(decodePermits(headers[index] as ImageHeader, admission), () => {
          if (failed) throw new Error("not decoded: another photo of the request was refused");
          // Handed over: the upload moves to the face-path worker uncopied; nothing reads it afterwards,
          // unless capture keeps whole photos.
          return model.predictor.prepare(bytes, { maxPixels: admission.maxPixels, handOver: !capture?.keepsPhotos, ...limits });
        });
      } catch (error) {
        failed = true;
        return refuse(error, index);
      }
    }),
  );
  // 3. Every face of every photo through the micro-batcher at once: faces of one photo, of the
  //    request's other photos and of other requests share backbone calls.
  const timer = metrics.predictSeconds.startTimer({ model_name: model.name });
  const scored = await Promise.all(prepared.map((photo) => Promise.all(croppedFaces(photo).map((face) => model.batcher.submit(face)))));
  timer();
  return prepared.map((photo, index) => {
    const answer = model.predictor.answerPhoto(photo, scored[index] ?? [], topk);
    recordPhotoPrediction(metrics, model.name, answer);
    capture?.observe(model, photo, scored[index] ?? [], answer, photos[index] ?? null);
    return answer;
  });
}

/** `maxFaces` and `minFaceSize` from a request's parameters: absent is the default; out of range is a 400 naming the parameter. */
export function parseFaceLimits(parameters: { maxFaces?: unknown; minFaceSize?: unknown }, path = ""): FaceLimits {
  return {
    maxFaces: boundedInteger(`${path}maxFaces`, parameters.maxFaces, defaultMaxFaces, 1, maxFacesLimit, "bad_max_faces"),
    minFaceSize: boundedInteger(`${path}minFaceSize`, parameters.minFaceSize, defaultMinFaceSize, 0, minFaceSizeLimit, "bad_min_face_size"),
  };
}

function boundedInteger(name: string, value: unknown, fallback: number, low: number, high: number, code: string): number {
  if (value === undefined) return fallback;
  const text = parameterText(value);
  const number = wholeNumberIn(text, low, high);
  if (number === null) throw new HttpError(400, code, `${name} must be an integer from ${low} to ${high}, received ${JSON.stringify(text)}`);
  return number;
}

/** A parameter's value as text: a query gives strings, a JSON body numbers (or anything). */
function parameterText(value: unknown): string {
  return typeof value === "string" || typeof value === "number" ? String(value) : JSON.stringify(value);
}

export function parseTopk(value: unknown, labels: number): number {
  if (value === undefined) return Math.min(3, labels);
  const text = parameterText(value);
  const topk = wholeNumberIn(text, 1, Number.POSITIVE_INFINITY);
  if (topk === null) throw new HttpError(400, "bad_topk", `topk must be a positive integer, received "${text}"`);
  return Math.min(topk, labels);
}
