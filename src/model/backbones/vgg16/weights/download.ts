import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { redactUrl, type Logger } from "../../../../log.js";
import { hashFile } from "../../../../util/file-hash.js";
import { readVgg16H5 } from "./hdf5.js";
import type { Vgg16Weights } from "./types.js";

/**
 * Finding VGG16's ImageNet weights file: a configured path or URL, the cache folder, or a download
 * from Keras' URL, checked against Keras' MD5 before it is kept.
 */

/** The file keras.applications.VGG16(include_top=False, weights="imagenet") downloads. */
const vgg16WeightsFileName = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
const vgg16WeightsUrl = `https://storage.googleapis.com/tensorflow/keras-applications/vgg16/${vgg16WeightsFileName}`;
/** The file_hash keras/applications/vgg16.py passes to get_file for that file. */
export const vgg16WeightsMd5 = "6d6bbae143d832006294945121d1f1fc";
/** Where users point faceops at their own copy; named in the error that explains how. */
const vgg16WeightsConfigKey = "model.vgg16Weights";
const vgg16WeightsEnvName = "FACEOPS_MODEL_VGG16_WEIGHTS";

export interface DownloadProgress {
  bytesDone: number;
  /** From Content-Length; undefined when the server does not say. */
  bytesTotal: number | undefined;
}

export interface ResolveVgg16WeightsOptions {
  /** model.vgg16Weights from the config: a local path or an http(s) URL of the Keras file. */
  source?: string;
  /** Folder where a verified download is kept, as <cacheDir>/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5. */
  cacheDir: string;
  fetch?: typeof fetch;
  log: Logger;
  onProgress?: (progress: DownloadProgress) => void;
  /** The MD5 a downloaded or cached file must have; Keras' own by default. Tests serve their own file. */
  md5?: string;
  /** Where to download from when no URL is configured; the Keras URL by default. */
  downloadUrl?: string;
  /** A download that receives nothing for this long is abandoned. Default 60 s. */
  stallTimeoutMs?: number;
}

const defaultStallTimeoutMs = 60_000;

export type Vgg16WeightsOrigin = "config" | "cache" | "download";

export interface ResolvedVgg16WeightsFile {
  path: string;
  origin: Vgg16WeightsOrigin;
  /** The URL the file was downloaded from, when it was, with any user:password@ removed. */
  url?: string;
}

/** Where the cache keeps the weights file. */
export function vgg16WeightsCachePath(cacheDir: string): string {
  return join(cacheDir, vgg16WeightsFileName);
}

function isHttpUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * Finds the weights file, in this order:
 * 1. a configured local path is used as it is (a missing one is an error: the user asked for it);
 * 2. the cache folder, when it holds a file with the expected MD5 (one that does not is deleted);
 * 3. a download from the configured URL, or else from Keras' URL, streamed to a temporary file,
 *    MD5-checked and only then renamed into the cache.
 * When none of them works, the error says how to provide the file.
 */
export async function resolveVgg16WeightsFile(options: ResolveVgg16WeightsOptions): Promise<ResolvedVgg16WeightsFile> {
  const source = options.source?.trim() || undefined;
  const md5 = (options.md5 ?? vgg16WeightsMd5).toLowerCase();
  const cachePath = vgg16WeightsCachePath(options.cacheDir);
  if (source !== undefined && !isHttpUrl(source)) return useConfiguredPath(source, options.log);
  if (await cacheIsValid(cachePath, md5, options.log)) return { path: cachePath, origin: "cache" };
  const url = source ?? options.downloadUrl ?? vgg16WeightsUrl;
  try {
    await downloadVerified({
      url,
      target: cachePath,
      md5,
      fetch: options.fetch ?? fetch,
      log: options.log,
      onProgress: options.onProgress,
      stallTimeoutMs: options.stallTimeoutMs ?? defaultStallTimeoutMs,
    });
  } catch (error) {
    throw new Error(howToProvide(`downloading ${redactUrl(url)} failed: ${describeError(error)}`, cachePath, md5), { cause: error });
  }
  // Callers record the source (bundles say where their weights came from): never a password.
  return { path: cachePath, origin: "download", url: redactUrl(url) };
}

/** resolveVgg16WeightsFile, then readVgg16H5. */
export async function resolveVgg16Weights(options: ResolveVgg16WeightsOptions): Promise<Vgg16Weights> {
  const file = await resolveVgg16WeightsFile(options);
  options.log.info({ path: file.path, origin: file.origin }, "reading VGG16 weights");
  return readVgg16H5(file.path);
}

/** Node's fetch says only "fetch failed"; the reason (ENOTFOUND, ECONNREFUSED, ...) is in its cause. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current = error; current instanceof Error && parts.length < 4; current = current.cause) {
    const message = current.message;
    if (!parts.some((part) => part.includes(message))) parts.push(message);
  }
  return parts.length > 0 ? parts.join(": ") : String(error);
}

function howToProvide(reason: string, cachePath: string, md5: string): string {
  return (
    `VGG16 ImageNet weights are not available: ${reason}. ` +
    `Provide ${vgg16WeightsFileName} (MD5 ${md5}, from ${vgg16WeightsUrl}) in one of these ways: ` +
    `put the file at ${cachePath}; or set the config key ${vgg16WeightsConfigKey} ` +
    `(environment variable ${vgg16WeightsEnvName}) to its local path or to an http(s) URL serving it`
  );
}

async function useConfiguredPath(source: string, log: Logger): Promise<ResolvedVgg16WeightsFile> {
  try {
    await stat(source);
  } catch (error) {
    throw new Error(
      `VGG16 weights file ${source} (from ${vgg16WeightsConfigKey} / ${vgg16WeightsEnvName}) cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
  log.debug({ path: source }, "using the configured VGG16 weights file");
  return { path: source, origin: "config" };
}

/** Keras' get_file also re-checks a cached file's hash and fetches it again when it differs. */
async function cacheIsValid(cachePath: string, md5: string, log: Logger): Promise<boolean> {
  let actual: string;
  try {
    actual = await hashFile(cachePath, "md5");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  if (actual === md5) return true;
  log.warn({ path: cachePath, md5: actual, expected: md5 }, "cached VGG16 weights have the wrong MD5; deleting them");
  await rm(cachePath, { force: true });
  return false;
}

interface DownloadOptions {
  url: string;
  target: string;
  md5: string;
  fetch: typeof fetch;
  log: Logger;
  onProgress: ((progress: DownloadProgress) => void) | undefined;
  stallTimeoutMs: number;
}

/*
 * The download goes to a temporary file beside the target and is renamed over it only after the
 * MD5 matched, so the cache never holds a partial or corrupted file, even after a crash.
 */
async function downloadVerified(options: DownloadOptions): Promise<void> {
  const { url, target, log } = options;
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.download-${process.pid}-${randomBytes(4).toString("hex")}`;
  const started = performance.now();
  log.info({ url: redactUrl(url), path: target }, "downloading VGG16 weights");
  try {
    const { bytes, md5 } = await streamToFile(options, temporary);
    if (md5 !== options.md5) {
      throw new Error(`the downloaded file has MD5 ${md5}, expected ${options.md5}; it was deleted and not cached`);
    }
    await rename(temporary, target);
    log.info({ path: target, bytes, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) }, "downloaded VGG16 weights");
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/*
 * A connection that stops delivering bytes would otherwise wait forever. The limit is on silence,
 * not on the whole download, so a slow but steady link still gets the 58 MB through.
 */
async function streamToFile(options: DownloadOptions, temporary: string): Promise<{ bytes: number; md5: string }> {
  const controller = new AbortController();
  let stallTimer: NodeJS.Timeout | undefined;
  const armStallTimer = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => controller.abort(new Error(`no data received for ${options.stallTimeoutMs / 1000} s`)), options.stallTimeoutMs);
  };
  armStallTimer();
  try {
    return await receive(options, temporary, controller.signal, armStallTimer);
  } finally {
    clearTimeout(stallTimer);
  }
}

async function receive(options: DownloadOptions, temporary: string, signal: AbortSignal, onData: () => void): Promise<{ bytes: number; md5: string }> {
  const response = await options.fetch(options.url, { redirect: "follow", signal });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new Error(`GET ${redactUrl(options.url)} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`);
  }
  const bytesTotal = declaredLength(response.headers);
  const hash = createHash("md5");
  const handle = await open(temporary, "w");
  let bytesDone = 0;
  try {
    const reader = response.body.getReader();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      const bytes = chunk.value as Uint8Array;
      hash.update(bytes);
      await handle.write(bytes);
      bytesDone += bytes.byteLength;
      onData();
      options.onProgress?.({ bytesDone, bytesTotal });
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (bytesTotal !== undefined && bytesDone !== bytesTotal) {
    throw new Error(`the download ended after ${bytesDone} of ${bytesTotal} bytes`);
  }
  return { bytes: bytesDone, md5: hash.digest("hex") };
}

/** Content-Length counts encoded bytes, so it only describes the body when nothing was decoded. */
function declaredLength(headers: Headers): number | undefined {
  const encoding = headers.get("content-encoding");
  if (encoding !== null && encoding !== "identity") return undefined;
  const length = Number(headers.get("content-length") ?? Number.NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}
