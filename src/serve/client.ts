import type { PublicPhotoPrediction } from "../model/predictor.js";
import { readImageHeader, type ImageFormat } from "../vision/decode.js";

/**
 * A client of the inference service's POST /v1/predict, for `faceops predict --url` and scripts:
 * sends one photo as a raw image/* body and returns the service's answer, or throws an error that
 * carries the service's own code and message.
 */

export interface RemoteAnswer {
  model: { name: string; version: string };
  results: PublicPhotoPrediction[];
}

export class RemotePredictError extends Error {
  override readonly name = "RemotePredictError";
  constructor(
    message: string,
    readonly status: number | null,
    readonly code: string,
  ) {
    super(message);
  }
}

const mimeTypes: Record<ImageFormat, string> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
  tiff: "image/tiff",
  avif: "image/avif",
  pgm: "image/x-portable-graymap",
  ppm: "image/x-portable-pixmap",
};

/** The base URL of a service: http(s) only, no credentials, no query; a trailing slash is dropped. */
export function serviceUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`--url must be an http(s) URL such as http://localhost:8080, received "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError(`--url must use http or https, received "${url.protocol}"`);
  if (url.username || url.password) throw new RangeError("--url must not hold credentials");
  if (url.search || url.hash) throw new RangeError(`--url must be the service's base URL, without a query or fragment; received "${text}"`);
  return url;
}

export async function predictRemote(base: URL, photo: Uint8Array, options: { topk: number; maxFaces?: number; minFaceSize?: number; timeoutMs?: number }): Promise<RemoteAnswer> {
  // Refuse what is not a photo here, with the same message the service would give.
  const { format } = await readImageHeader(photo);
  // Relative to the base's path, so a service behind a path prefix (https://host/faces/) works too.
  const url = new URL(`${base.href.replace(/\/+$/, "")}/v1/predict`);
  url.searchParams.set("topk", String(options.topk));
  if (options.maxFaces !== undefined) url.searchParams.set("maxFaces", String(options.maxFaces));
  if (options.minFaceSize !== undefined) url.searchParams.set("minFaceSize", String(options.minFaceSize));
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": mimeTypes[format], Accept: "application/json" },
      body: photo,
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new RemotePredictError(`the service at ${base.origin} cannot be reached (${reason})`, null, "unreachable");
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RemotePredictError(`${url.origin} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`, response.status, "bad_response");
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    throw new RemotePredictError(`the service answered ${response.status}: ${error?.message ?? text.slice(0, 200)}`, response.status, error?.code ?? "http_error");
  }
  const answer = body as Partial<RemoteAnswer>;
  if (!answer.model || !Array.isArray(answer.results) || answer.results.length !== 1) {
    throw new RemotePredictError(`${url.origin} is not a faceops service: its answer has no model and single result`, response.status, "bad_response");
  }
  return answer as RemoteAnswer;
}
