import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type h5wasmModule from "h5wasm/node";
import type { Dataset, Group, OutputData } from "h5wasm/node";
import { redactUrl, type Logger } from "../../../log.js";
import { kernelLength, kernelShape, vgg16ConvLayers, type Vgg16ConvLayer } from "./architecture.js";

/**
 * VGG16's ImageNet weights: reading the official Keras file, finding it (configured path or URL,
 * cache folder, download), and random weights for tests and benchmarks. Everything is float32 in
 * Keras' own layout, so the weights mean the same thing to every engine.
 */

export interface Vgg16ConvWeights {
  /** Keras layout [3, 3, in, out] (HWIO), row-major. */
  readonly kernel: Float32Array;
  /** One value per output channel. */
  readonly bias: Float32Array;
}

export interface Vgg16Weights {
  /** One entry per conv layer of the architecture, keyed by its Keras name ("block1_conv1"). */
  readonly layers: ReadonlyMap<string, Vgg16ConvWeights>;
  /** sha256 of the weights file in hex, or "random:<seed>" for random weights. */
  readonly sha256: string;
  /** True for randomly initialised weights, which only tests and benchmarks may use. */
  readonly random: boolean;
}

/** The file keras.applications.VGG16(include_top=False, weights="imagenet") downloads. */
export const vgg16WeightsFileName = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
export const vgg16WeightsUrl = `https://storage.googleapis.com/tensorflow/keras-applications/vgg16/${vgg16WeightsFileName}`;
/** The file_hash keras/applications/vgg16.py passes to get_file for that file. */
export const vgg16WeightsMd5 = "6d6bbae143d832006294945121d1f1fc";
/** Where users point faceops at their own copy; named in the error that explains how. */
export const vgg16WeightsConfigKey = "model.vgg16Weights";
export const vgg16WeightsEnvName = "FACEOPS_MODEL_VGG16_WEIGHTS";

const randomPrefix = "random:";

/** The weights of one conv layer, or an error naming the layer when they are absent or misshapen. */
export function convWeights(weights: Vgg16Weights, layer: Vgg16ConvLayer): Vgg16ConvWeights {
  const found = weights.layers.get(layer.name);
  if (!found) throw new Error(`VGG16 weights (${weights.sha256}) have no entry for layer ${layer.name}`);
  if (found.kernel.length !== kernelLength(layer) || found.bias.length !== layer.outChannels) {
    throw new Error(
      `VGG16 weights for ${layer.name} have ${found.kernel.length} kernel and ${found.bias.length} bias values, ` +
        `expected ${kernelLength(layer)} (${kernelShape(layer).join("x")}) and ${layer.outChannels}`,
    );
  }
  return found;
}

/** The seed of random weights, or undefined for real ones. */
export function randomWeightsSeed(weights: Vgg16Weights): string | undefined {
  return weights.sha256.startsWith(randomPrefix) ? weights.sha256.slice(randomPrefix.length) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Random weights

/**
 * mulberry32: a 32-bit PRNG that is tiny, fast and plenty for initial weights. Math.random cannot
 * be seeded, and tests need the same weights on every run to compare engines.
 */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/*
 * He-uniform kernels (limit sqrt(6 / fan_in)) keep the activations' scale roughly constant through
 * 13 ReLU layers, so features neither vanish nor overflow and engine comparisons stay meaningful.
 * Biases are small but not zero (Keras initialises them to zero): an engine that drops a bias or
 * adds it to the wrong channel must show up in those comparisons.
 */
const randomBiasLimit = 0.5;

/** Deterministic random weights for tests and benchmarks; never for real features. */
export function randomVgg16Weights(seed: number): Vgg16Weights {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`random weights need an integer seed, received ${String(seed)}`);
  const next = mulberry32(seed);
  const uniform = (values: Float32Array, limit: number) => {
    for (let i = 0; i < values.length; i++) values[i] = (next() * 2 - 1) * limit;
    return values;
  };
  const layers = new Map<string, Vgg16ConvWeights>();
  for (const layer of vgg16ConvLayers) {
    const fanIn = 3 * 3 * layer.inChannels;
    layers.set(layer.name, {
      kernel: uniform(new Float32Array(kernelLength(layer)), Math.sqrt(6 / fanIn)),
      bias: uniform(new Float32Array(layer.outChannels), randomBiasLimit),
    });
  }
  return { layers, sha256: `${randomPrefix}${seed}`, random: true };
}

// ---------------------------------------------------------------------------------------------
// Reading the Keras HDF5 file

type H5 = typeof h5wasmModule;
type H5File = InstanceType<H5["File"]>;

/*
 * h5wasm compiles a 4 MB WebAssembly module when imported, so it is loaded only when a file is
 * read: a process that embeds with random weights, or never touches VGG16, does not pay for it.
 */
let h5wasmLoaded: Promise<H5> | null = null;
function loadH5wasm(): Promise<H5> {
  h5wasmLoaded ??= import("h5wasm/node").then(async (module) => {
    await module.default.ready;
    return module.default;
  });
  return h5wasmLoaded;
}

/** The 8-byte HDF5 superblock signature. It sits at 0, or at 512, 1024, 2048... after a user block. */
const hdf5Signature = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/*
 * h5wasm neither throws for a missing file nor for one that is not HDF5: it returns a File with an
 * invalid id and prints HDF5's diagnostics. Checking existence and the signature first turns both
 * into errors that name the file.
 */
async function assertHdf5File(path: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new Error(`VGG16 weights file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const handle = await open(path, "r");
  try {
    const probe = Buffer.alloc(hdf5Signature.length);
    for (let offset = 0; offset + probe.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(probe, 0, probe.length, offset);
      if (probe.equals(hdf5Signature)) return;
    }
  } finally {
    await handle.close();
  }
  throw new Error(`VGG16 weights file ${path} is not an HDF5 file (no HDF5 signature found in its ${size} bytes)`);
}

/**
 * Reads the Keras weights file the way Keras' legacy_h5_format.load_weights_from_hdf5_group does:
 * the root attribute `layer_names` lists the layers in order, each layer's group has a
 * `weight_names` attribute, and the datasets are found at those names inside the group
 * ("block1_conv1_W_1:0" in the 2016 file, "block1_conv1/kernel:0" in newer ones). Layers without
 * weights (the input and the pools) are skipped, and the remaining ones are matched to the conv
 * layers in order, as Keras' topological loading does. Every count and shape is checked against
 * the architecture, and a mismatch names the layer and dataset.
 */
export async function readVgg16H5(path: string): Promise<Vgg16Weights> {
  await assertHdf5File(path);
  const sha256 = await hashFile(path, "sha256");
  const h5 = await loadH5wasm();
  const file: H5File = new h5.File(resolve(path), "r");
  try {
    if (file.file_id < 0n) throw new Error(`VGG16 weights file ${path} could not be opened by HDF5`);
    return { layers: readConvLayers(h5, weightsRoot(h5, file), path), sha256, random: false };
  } catch (error) {
    // Our own errors already name the file; h5wasm's (sometimes plain strings) do not.
    if (error instanceof Error && error.message.startsWith("VGG16 weights file")) throw error;
    throw new Error(`VGG16 weights file ${path} could not be read as HDF5: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    file.close();
  }
}

/** A whole saved model keeps its weights under "model_weights"; Keras' load_weights looks there too. */
function weightsRoot(h5: H5, file: H5File): Group {
  if (file.attrs.layer_names === undefined) {
    const nested = file.get("model_weights");
    if (nested instanceof h5.Group) return nested;
  }
  return file;
}

function readConvLayers(h5: H5, root: Group, path: string): Map<string, Vgg16ConvWeights> {
  const layerNames = readStringListAttribute(root, "layer_names", path);
  if (layerNames.length === 0) throw new Error(`VGG16 weights file ${path} has no "layer_names" attribute: it is not a Keras weights file`);
  const weighted = layerNames
    .map((name) => ({ name, group: layerGroup(h5, root, name, path) }))
    .map((entry) => ({ ...entry, weightNames: readStringListAttribute(entry.group, "weight_names", `${path}: layer ${entry.name}`) }))
    .filter((entry) => entry.weightNames.length > 0);
  assertLayerCount(weighted.map((entry) => entry.name), path);
  const layers = new Map<string, Vgg16ConvWeights>();
  vgg16ConvLayers.forEach((layer, index) => {
    const saved = weighted[index] as (typeof weighted)[number];
    layers.set(layer.name, readConvWeights(h5, saved, layer, path));
  });
  return layers;
}

function layerGroup(h5: H5, root: Group, name: string, path: string): Group {
  const group = root.get(name);
  if (!(group instanceof h5.Group)) throw new Error(`VGG16 weights file ${path} lists layer ${name} in layer_names but has no group ${name}`);
  return group;
}

/** Keras counts only layers with weights; a different count means a different network. */
function assertLayerCount(savedNames: string[], path: string): void {
  if (savedNames.length === vgg16ConvLayers.length) return;
  const expected = vgg16ConvLayers.map((layer) => layer.name);
  const missing = expected.filter((name) => !savedNames.includes(name));
  const unexpected = savedNames.filter((name) => !expected.includes(name));
  const details = [
    missing.length > 0 ? `missing ${missing.join(", ")}` : "",
    unexpected.length > 0 ? `unexpected ${unexpected.join(", ")}` : "",
  ].filter((part) => part !== "");
  throw new Error(
    `VGG16 weights file ${path} has ${savedNames.length} layers with weights, expected ${expected.length}` +
      (details.length > 0 ? ` (${details.join("; ")})` : ""),
  );
}

function readConvWeights(
  h5: H5,
  saved: { name: string; group: Group; weightNames: string[] },
  layer: Vgg16ConvLayer,
  path: string,
): Vgg16ConvWeights {
  const where = `layer ${saved.name} (VGG16 ${layer.name})`;
  if (saved.weightNames.length !== 2) {
    throw new Error(`VGG16 weights file ${path}: ${where} has ${saved.weightNames.length} weights (${saved.weightNames.join(", ")}), expected a kernel and a bias`);
  }
  const [kernelName, biasName] = saved.weightNames as [string, string];
  return {
    kernel: readFloat32Dataset(h5, saved.group, kernelName, kernelShape(layer), where, path),
    bias: readFloat32Dataset(h5, saved.group, biasName, [layer.outChannels], where, path),
  };
}

function readFloat32Dataset(h5: H5, group: Group, name: string, expectedShape: number[], where: string, path: string): Float32Array {
  const datasetPath = `${group.path.replace(/^\//, "")}/${name}`;
  const entity = group.get(name);
  if (!(entity instanceof h5.Dataset)) throw new Error(`VGG16 weights file ${path}: ${where} names dataset ${datasetPath}, which does not exist`);
  const dataset: Dataset = entity;
  const shape = dataset.shape ?? [];
  if (shape.length !== expectedShape.length || shape.some((size, axis) => size !== expectedShape[axis])) {
    throw new Error(`VGG16 weights file ${path}: dataset ${datasetPath} of ${where} has shape [${shape.join(", ")}], expected [${expectedShape.join(", ")}]`);
  }
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  // Weights saved in float64 are exact in intent only to float32, which is what Keras loads them as.
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new Error(`VGG16 weights file ${path}: dataset ${datasetPath} of ${where} is not floating point (dtype ${JSON.stringify(dataset.dtype)})`);
}

/**
 * Keras' load_attributes_from_hdf5_group: a string list stored under `name`, or, when it was too
 * large for one HDF5 object header, split across `name0`, `name1`, ... An absent attribute and
 * h5py's encoding of an empty list (a zero-length float array) both read as [].
 */
function readStringListAttribute(group: Group, name: string, where: string): string[] {
  const attrs = group.attrs;
  const whole = attrs[name];
  if (whole !== undefined) return toStringList(whole.value, `${where}: attribute ${name}`);
  const values: string[] = [];
  for (let chunk = 0; attrs[`${name}${chunk}`] !== undefined; chunk++) {
    values.push(...toStringList((attrs[`${name}${chunk}`] as (typeof attrs)[string]).value, `${where}: attribute ${name}${chunk}`));
  }
  return values;
}

function toStringList(value: OutputData | null, where: string): string[] {
  if (value === null) return [];
  if (typeof value === "string") return [stripPadding(value)];
  if (ArrayBuffer.isView(value) && value.byteLength === 0) return [];
  if (Array.isArray(value) && value.every((item): item is string => typeof item === "string")) return value.map(stripPadding);
  throw new Error(`VGG16 weights file ${where} is not a list of strings`);
}

/** h5py writes names as fixed-length byte strings, which may carry NUL padding. */
function stripPadding(text: string): string {
  return text.replace(/\0+$/, "");
}

// ---------------------------------------------------------------------------------------------
// Finding the file

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

export async function hashFile(path: string, algorithm: "md5" | "sha256"): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
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
