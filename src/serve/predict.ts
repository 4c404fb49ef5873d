import { recordPrediction, type ServeMetrics } from "../metrics/serve-metrics.js";
import type { Prediction } from "../model/predictor.js";
import { ImageDecodeError } from "../vision/decode.js";
import { HttpError } from "./errors.js";
import type { ServedModel } from "./model-slot.js";

/**
 * One request's photos through one model: decode and crop each (a bad photo is the client's
 * fault: 400), then score them through the model's micro-batcher, so concurrent requests share
 * backbone calls. Counts every prediction in the metrics.
 */
export async function predictPhotos(model: ServedModel, photos: readonly Buffer[], topk: number, metrics: ServeMetrics): Promise<Prediction[]> {
  const prepared = await Promise.all(
    photos.map(async (bytes, index) => {
      try {
        return await model.predictor.prepare(bytes);
      } catch (error) {
        if (error instanceof ImageDecodeError) {
          const which = photos.length > 1 ? `photo ${index + 1}: ` : "";
          throw new HttpError(400, error.code === "too_large" ? "image_too_large" : "invalid_image", `${which}${error.message}`);
        }
        throw error;
      }
    }),
  );
  const timer = metrics.predictSeconds.startTimer({ model_name: model.name });
  const scored = await Promise.all(prepared.map((entry) => model.batcher.submit(entry.image)));
  timer();
  return scored.map((scores, index) => {
    const prediction = model.predictor.describe(scores, topk, prepared[index]?.crop ?? "none");
    recordPrediction(metrics, model.name, prediction);
    return prediction;
  });
}

export function parseTopk(value: unknown, labels: number): number {
  if (value === undefined) return Math.min(3, labels);
  const text = typeof value === "string" || typeof value === "number" ? String(value) : JSON.stringify(value);
  const topk = Number(text);
  if (!/^\d+$/.test(text) || topk < 1) throw new HttpError(400, "bad_topk", `topk must be a positive integer, received "${text}"`);
  return Math.min(topk, labels);
}
