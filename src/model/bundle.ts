import { createHash, randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import type { BackboneId } from "./backbones/types.js";
import type { Evaluation } from "./evaluate.js";
import type { FeatureScaling } from "./head.js";
import type { EpochCurve } from "./learning-curve.js";
import { temporaryPath } from "../store/owner.js";
import { knownFaces, ReferenceSet, type KnownFaces, type OpenSetReference, type OpenSetRule } from "./open-set.js";
import type { FaceSummary } from "./face-survey.js";

type Tf = typeof tfjs;

/**
 * A trained model as a folder: the head in TensorFlow.js' own layers format, and metadata.json
 * with everything needed to rebuild the rest and to trust it: the backbone reference, labels in
 * index order, preprocessing, hyperparameters, metrics, the dataset it came from, and the sha256 of
 * every file. A bundle is written to a temporary folder and renamed into place, and the loader
 * refuses any file whose checksum does not match, so a half-written or tampered bundle is never
 * served.
 *
 * The loader trusts nothing on disk before the checksums have spoken: a bundle folder is often one a
 * server hot-swaps in, so it is read as hostile input. No symbolic link is followed (the folder, its
 * sub-folders and its files are looked at with lstat, files opened with O_NOFOLLOW), nothing but a
 * regular file is read (a FIFO would block forever, /dev/zero never ends), and no file is read past
 * the size metadata.json records for it (`fileBytes`, written since sizes were recorded). Those sizes
 * are themselves bounded per kind of file by `bundleFileCeilings`, which also stand in for them in
 * older bundles; metadata.json itself is read up to `metadataMaxBytes`.
 */

export const metadataFile = "metadata.json";
const headTopologyFile = "head/model.json";
const headWeightsFile = "head/weights.bin";
/** The feature standardisation: featureLength float32 means, then featureLength float32 scales. */
const scalingFile = "head/scaling.bin";
/** The open-set references: see ReferenceSet.toBytes. */
const referencesFile = "open-set/references.bin";

const mebibyte = 1024 ** 2;
/** Labels, learning curves and metrics of a model with thousands of people take a few hundred kB. */
export const metadataMaxBytes = 16 * mebibyte;
/**
 * The most each kind of file may hold, whatever metadata.json says. The head's weights are
 * 4 x (inputLength x units + units x classes) bytes, about 26 MB for VGG16 flattened (25,088) into
 * 256 units; the references 4 x (featureLength + 1) bytes per training photo.
 */
export const bundleFileCeilings: Readonly<Record<string, number>> = {
  [headTopologyFile]: 4 * mebibyte,
  [headWeightsFile]: 1024 * mebibyte,
  [scalingFile]: 1 * mebibyte,
  [referencesFile]: 1024 * mebibyte,
};
/** Any other file a bundle lists (none today): small, whatever it is. */
const otherFileCeiling = 1 * mebibyte;

export interface BackboneReference {
  id: BackboneId;
  fingerprint: string;
  weightsSha256: string;
  randomWeights: boolean;
  /** How to get the weights again: a URL or path, "random:<seed>", or an npm package and version. */
  weightsSource: string;
  engine: string;
  inputSize: number;
  featureLength: number;
  preprocessing: string;
  pooling: "avg" | "flatten" | "none";
  /** VGG16's arithmetic: fp32 (Keras' own) or int8. Absent in older bundles: fp32. */
  precision?: "fp32" | "int8";
  /**
   * The terms of the weights (not only of the package that ships them): licence, author and origin.
   * Absent in older bundles and for VGG16, whose Keras ImageNet weights carry no licence of their own here.
   */
  licence?: string;
}

export interface CropReference {
  mode: "face" | "center" | "none";
  /** Detector settings, when mode is face. */
  detector: string | null;
  /** The dataset's median face box relative to the photo (x, y, width, height in 0..1), the fallback at serving time. */
  medianBox: { x: number; y: number; width: number; height: number } | null;
  /** How each training photo was cropped: detected, median, center, none. */
  counts: Record<string, number>;
}

export interface BundleMetrics extends Evaluation {
  /** Nearest class mean on the same features, a training-free baseline. */
  nearestClassMeanAccuracy: number;
  /** Share of test photos, all of known people, that the open-set rule would answer "unknown". */
  knownRejectedRate?: number;
  curves: EpochCurve[];
  keptEpoch: number;
  stoppedEarly: boolean;
}

/** The name faceops gives the models it trains (the Open Inference Protocol's model name). */
export const defaultModelName = "faces";

export interface BundleMetadata {
  schemaVersion: 1;
  name: string;
  createdAt: string;
  /** Class index i is labels[i]. */
  labels: string[];
  backbone: BackboneReference;
  crop: CropReference;
  head: { inputLength: number; units: number; dropout: number; classes: number; engine: string };
  hyperparameters: Record<string, unknown>;
  /** metrics.accuracy is the test-split accuracy: the number the gate reads. */
  metrics: BundleMetrics;
  /** Absent in bundles made before the open-set rule: they never answer "unknown". */
  openSet?: OpenSetReference;
  dataset: { source: string; commit: string | null; fingerprint: string; photos: number; train: number; test: number };
  /** The faces of the training photos (face crops only): counts, warnings, rejects. Absent in older bundles. */
  faces?: FaceSummary;
  /** Path (relative, "/"-separated) -> sha256 of every other file in the bundle. */
  files: Record<string, string>;
  /**
   * Path -> byte size of every file in `files`: the loader reads no more. Absent in bundles written
   * before sizes were recorded: each file is then bounded by its kind's ceiling (bundleFileCeilings).
   */
  fileBytes?: Record<string, number>;
}

export class BundleError extends Error {
  override readonly name = "BundleError";
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The head's files in TensorFlow.js' layers-model format (model.json + weights.bin). */
async function serializeHead(model: tfjs.LayersModel, tf: Tf): Promise<{ topology: string; weights: Uint8Array }> {
  let captured: tfjs.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      captured = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } });
    }),
  );
  const artifacts = captured as tfjs.io.ModelArtifacts | null;
  if (!artifacts?.weightData || !artifacts.weightSpecs) throw new Error("TensorFlow.js saved the head without weights");
  const weightData = Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
  const weights = Buffer.concat(weightData.map((buffer) => new Uint8Array(buffer)));
  const topology = JSON.stringify({
    format: "layers-model",
    generatedBy: `faceops with TensorFlow.js ${tf.version.tfjs}`,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [basename(headWeightsFile)], weights: artifacts.weightSpecs }],
  });
  return { topology, weights };
}

/**
 * Writes the bundle to `directory` atomically: everything goes to a sibling temporary folder that
 * is renamed into place. An existing bundle at that path is replaced only once the new one is whole.
 */
export async function saveBundle(
  directory: string,
  input: { metadata: Omit<BundleMetadata, "files" | "fileBytes">; head: tfjs.LayersModel; scaling: FeatureScaling; references?: ReferenceSet; tf: Tf },
): Promise<BundleMetadata> {
  const target = resolve(directory);
  // The name records its writer, so a starting controller can remove it once that writer is gone (store/cleanup.ts).
  const temporary = await temporaryPath(target, "tmp");
  await mkdir(join(temporary, "head"), { recursive: true });
  try {
    const head = await serializeHead(input.head, input.tf);
    const contents: Record<string, Uint8Array> = {
      [headTopologyFile]: Buffer.from(head.topology),
      [headWeightsFile]: head.weights,
      [scalingFile]: new Uint8Array(Buffer.concat([Buffer.from(input.scaling.mean.buffer.slice(0)), Buffer.from(input.scaling.scale.buffer.slice(0))])),
    };
    if (input.references) {
      if (!input.metadata.openSet) throw new Error("a bundle with open-set references needs metadata.openSet");
      contents[referencesFile] = input.references.toBytes();
      await mkdir(join(temporary, dirname(referencesFile)), { recursive: true });
    }
    const files: Record<string, string> = {};
    const fileBytes: Record<string, number> = {};
    for (const [path, bytes] of Object.entries(contents)) {
      const ceiling = bundleFileCeilings[path] ?? otherFileCeiling;
      if (bytes.byteLength > ceiling) throw new Error(`${path} would hold ${bytes.byteLength} bytes, more than the ${ceiling} a bundle may hold; no loader would read it`);
      await writeFile(join(temporary, path), bytes, { flush: true });
      files[path] = sha256(bytes);
      fileBytes[path] = bytes.byteLength;
    }
    const metadata: BundleMetadata = { ...input.metadata, files, fileBytes };
    await writeFile(join(temporary, metadataFile), `${JSON.stringify(metadata, null, 2)}\n`, { flush: true });
    await replaceDirectory(temporary, target);
    return metadata;
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
}

async function replaceDirectory(source: string, target: string): Promise<void> {
  const exists = await stat(target).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(dirname(target), { recursive: true });
    await rename(source, target);
    return;
  }
  const old = `${target}.old-${process.pid}-${randomBytes(4).toString("hex")}`;
  await rename(target, old);
  await rename(source, target);
  await rm(old, { recursive: true, force: true });
}

export interface LoadedBundle {
  directory: string;
  metadata: BundleMetadata;
  /** Builds the head in the given TensorFlow.js instance. */
  loadHead(tf: Tf): Promise<tfjs.LayersModel>;
  scaling: FeatureScaling;
  /** The open-set references, when the bundle has them. */
  references: ReferenceSet | null;
  /** The known people as the bundle's open-set rule measures them; null without references. */
  knownFaces: KnownFaces | null;
}

/** A bundle's metadata.json, read as the loader reads it (no link followed, at most metadataMaxBytes), but not verified further. */
export async function readBundleMetadata(directory: string): Promise<BundleMetadata> {
  const root = resolve(directory);
  let metadata: BundleMetadata;
  try {
    metadata = JSON.parse((await readBundleFile(root, metadataFile, { maxBytes: metadataMaxBytes, what: "a bundle's metadata" })).toString("utf8")) as BundleMetadata;
  } catch (error) {
    throw new BundleError(`${join(root, metadataFile)} cannot be read as a bundle's metadata: ${(error as Error).message}`, { cause: error });
  }
  if (metadata === null || typeof metadata !== "object" || metadata.schemaVersion !== 1 || typeof metadata.files !== "object" || metadata.files === null || !Array.isArray(metadata.labels)) {
    throw new BundleError(`${join(root, metadataFile)} is not faceops bundle metadata (schemaVersion ${String((metadata as Partial<BundleMetadata> | null)?.schemaVersion)})`);
  }
  return metadata;
}

/** Reads and verifies a bundle. Throws BundleError naming the first file that is missing, altered, oversized or not a plain file. */
export async function loadBundle(directory: string): Promise<LoadedBundle> {
  const root = resolve(directory);
  const metadata = await readBundleMetadata(root);
  const contents = new Map<string, Buffer>();
  for (const [path, expected] of Object.entries(metadata.files)) {
    const file = resolve(root, path);
    if (!file.startsWith(root + sep)) throw new BundleError(`bundle ${root} names a file outside itself: ${path}`);
    const bytes = await readBundleFile(root, path, sizeLimit(root, path, metadata));
    const actual = sha256(bytes);
    if (actual !== expected) {
      throw new BundleError(`bundle ${root}: ${path} does not match its checksum (expected sha256 ${expected}, found ${actual}); the bundle is damaged or was altered`);
    }
    contents.set(path, bytes);
  }
  for (const required of [headTopologyFile, headWeightsFile, scalingFile]) {
    if (!contents.has(required)) throw new BundleError(`bundle ${root} does not list ${required} in its metadata`);
  }
  if (metadata.openSet && !contents.has(referencesFile)) throw new BundleError(`bundle ${root} has an open-set rule but does not list ${referencesFile}`);
  await refuseUnlistedFiles(root, metadata);
  const references = metadata.openSet ? readReferences(contents.get(referencesFile) as Buffer, metadata, root) : null;
  return {
    directory: root,
    metadata,
    scaling: readScaling(contents.get(scalingFile) as Buffer, metadata.head.inputLength, root),
    references,
    knownFaces: references && metadata.openSet ? knownFaces(references, readOpenSetRule(metadata.openSet, root)) : null,
    loadHead: async (tf) => {
      const topology = JSON.parse((contents.get(headTopologyFile) as Buffer).toString("utf8")) as {
        modelTopology: object;
        weightsManifest: Array<{ weights: tfjs.io.WeightsManifestEntry[] }>;
      };
      const weights = contents.get(headWeightsFile) as Buffer;
      const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
      return tf.loadLayersModel(
        tf.io.fromMemory({ modelTopology: topology.modelTopology, weightSpecs: topology.weightsManifest.flatMap((group) => group.weights), weightData }),
      );
    },
  };
}

/** How much of a listed file may be read: its recorded size, within its kind's ceiling; the ceiling alone for older bundles. */
function sizeLimit(root: string, path: string, metadata: BundleMetadata): { maxBytes: number; exactBytes?: number; what: string } {
  const ceiling = bundleFileCeilings[path] ?? otherFileCeiling;
  if (metadata.fileBytes === undefined) return { maxBytes: ceiling, what: `a ${path} (the ceiling for bundles without recorded sizes)` };
  const recorded = (metadata.fileBytes as Record<string, unknown>)[path];
  if (typeof recorded !== "number" || !Number.isSafeInteger(recorded) || recorded < 0) {
    throw new BundleError(`bundle ${root}: metadata.json records no valid size for ${path} (found ${JSON.stringify(recorded)})`);
  }
  if (recorded > ceiling) throw new BundleError(`bundle ${root}: metadata.json records ${recorded} bytes for ${path}, more than the ${ceiling} such a file may hold`);
  return { maxBytes: recorded, exactBytes: recorded, what: "its recorded size" };
}

function describeKind(stats: Stats): string {
  if (stats.isSymbolicLink()) return "a symbolic link";
  if (stats.isDirectory()) return "a folder";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  if (stats.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * One file of a bundle, read as hostile input: the bundle folder and every folder on the way must
 * be real folders and the file a regular file (lstat, then O_NOFOLLOW and fstat on what was opened,
 * in case it was swapped in between; O_NONBLOCK so that opening a FIFO cannot hang), and no more
 * than `maxBytes` is read even if the file grows meanwhile. Errors name the file.
 */
async function readBundleFile(root: string, path: string, limit: { maxBytes: number; exactBytes?: number; what: string }): Promise<Buffer> {
  const refuse = (why: string, cause?: unknown) => new BundleError(`bundle ${root}: ${path} ${why}`, cause === undefined ? undefined : { cause });
  const missing = (cause: unknown) => new BundleError(`bundle ${root} is missing ${path} (${(cause as Error).message})`, { cause });
  const parts = path.split("/");
  for (let depth = 0; depth < parts.length; depth++) {
    const place = join(root, ...parts.slice(0, depth));
    const stats = await lstat(place).catch((error: unknown) => {
      throw depth === 0 ? new BundleError(`bundle ${root} cannot be read: ${(error as Error).message}`, { cause: error }) : missing(error);
    });
    if (!stats.isDirectory()) {
      throw depth === 0 ? new BundleError(`bundle ${root} is ${describeKind(stats)}, not a folder; a bundle's paths are never followed`) : refuse(`lies in ${parts.slice(0, depth).join("/")}, which is ${describeKind(stats)}, not a folder; a bundle's paths are never followed`);
    }
  }
  const file = join(root, ...parts);
  const before = await lstat(file).catch((error: unknown) => {
    throw missing(error);
  });
  if (!before.isFile()) throw refuse(`is ${describeKind(before)}, not a regular file; it was not read`);
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: unknown) => {
    throw refuse(`cannot be opened (${(error as Error).message}); a symbolic link is never followed`, error);
  });
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw refuse(`is ${describeKind(stats)}, not a regular file; it was not read`);
    if (limit.exactBytes !== undefined && stats.size !== limit.exactBytes) {
      throw refuse(`holds ${stats.size} bytes, but metadata.json records ${limit.exactBytes}; the bundle is damaged or was altered, and the file was not read`);
    }
    if (stats.size > limit.maxBytes) throw refuse(`holds ${stats.size} bytes, more than the ${limit.maxBytes} allowed for ${limit.what}; it was not read`);
    // One byte more than allowed tells a file that grew after fstat from one that did not.
    const buffer = Buffer.alloc(Math.min(stats.size, limit.maxBytes) + 1);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > limit.maxBytes || filled !== stats.size) throw refuse(`changed size while it was read (${stats.size} bytes before); refused`);
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

function readScaling(bytes: Buffer, length: number, root: string): FeatureScaling {
  if (bytes.length !== length * 8) throw new BundleError(`bundle ${root}: ${scalingFile} holds ${bytes.length} bytes, expected ${length * 8} for ${length} features`);
  const values = new Float32Array(length * 2);
  new Uint8Array(values.buffer).set(bytes);
  return { mean: values.slice(0, length), scale: values.slice(length) };
}

function readReferences(bytes: Buffer, metadata: BundleMetadata, root: string): ReferenceSet {
  try {
    return ReferenceSet.fromBytes(bytes, metadata.backbone.featureLength, metadata.labels.length);
  } catch (error) {
    throw new BundleError(`bundle ${root}: ${referencesFile} is not valid: ${(error as Error).message}`, { cause: error });
  }
}

const openSetRules: readonly OpenSetRule[] = ["nearest-reference-distance", "nearest-class-mean-distance"];

/** The bundle's open-set rule; bundles from before the rule was recorded had only the nearest photo. */
function readOpenSetRule(openSet: OpenSetReference, root: string): OpenSetRule {
  const rule = (openSet as Partial<OpenSetReference>).rule ?? "nearest-reference-distance";
  if (!openSetRules.includes(rule)) throw new BundleError(`bundle ${root}: metadata.openSet.rule "${String(rule)}" is not one this faceops knows (${openSetRules.join(", ")})`);
  return rule;
}

/** A file nobody listed could be anything, including something the next loader version would read. */
async function refuseUnlistedFiles(root: string, metadata: BundleMetadata): Promise<void> {
  const listed = new Set([metadataFile, ...Object.keys(metadata.files)]);
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (!listed.has(relative(root, path).split(sep).join("/"))) {
        throw new BundleError(`bundle ${root} holds ${relative(root, path)}, which its metadata does not list`);
      }
    }
  };
  await walk(root);
}
