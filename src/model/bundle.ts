import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import type { Evaluation } from "./evaluate.js";
import type { EpochCurve, FeatureScaling } from "./head.js";
import { ReferenceSet, type OpenSetReference } from "./open-set.js";

type Tf = typeof tfjs;

/**
 * A trained model as a folder: the head in TensorFlow.js' own layers format, and metadata.json
 * with everything needed to rebuild the rest and to trust it: the backbone reference, labels in
 * index order, preprocessing, hyperparameters, metrics, the dataset it came from, and the sha256 of
 * every file. A bundle is written to a temporary folder and renamed into place, and the loader
 * refuses any file whose checksum does not match, so a half-written or tampered bundle is never
 * served.
 */

export const metadataFile = "metadata.json";
const headTopologyFile = "head/model.json";
const headWeightsFile = "head/weights.bin";
/** The feature standardisation: featureLength float32 means, then featureLength float32 scales. */
const scalingFile = "head/scaling.bin";
/** The open-set references: see ReferenceSet.toBytes. */
const referencesFile = "open-set/references.bin";

export interface BackboneReference {
  id: "vgg16" | "face-embedding";
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
  /** Path (relative, "/"-separated) -> sha256 of every other file in the bundle. */
  files: Record<string, string>;
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
  input: { metadata: Omit<BundleMetadata, "files">; head: tfjs.LayersModel; scaling: FeatureScaling; references?: ReferenceSet; tf: Tf },
): Promise<BundleMetadata> {
  const target = resolve(directory);
  const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
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
    for (const [path, bytes] of Object.entries(contents)) {
      await writeFile(join(temporary, path), bytes, { flush: true });
      files[path] = sha256(bytes);
    }
    const metadata: BundleMetadata = { ...input.metadata, files };
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
}

/** Reads and verifies a bundle. Throws BundleError naming the first file that is missing or altered. */
export async function loadBundle(directory: string): Promise<LoadedBundle> {
  const root = resolve(directory);
  let metadata: BundleMetadata;
  try {
    metadata = JSON.parse(await readFile(join(root, metadataFile), "utf8")) as BundleMetadata;
  } catch (error) {
    throw new BundleError(`${join(root, metadataFile)} cannot be read as a bundle's metadata: ${(error as Error).message}`, { cause: error });
  }
  if (metadata.schemaVersion !== 1 || typeof metadata.files !== "object" || !Array.isArray(metadata.labels)) {
    throw new BundleError(`${join(root, metadataFile)} is not faceops bundle metadata (schemaVersion ${String(metadata.schemaVersion)})`);
  }
  const contents = new Map<string, Buffer>();
  for (const [path, expected] of Object.entries(metadata.files)) {
    const file = resolve(root, path);
    if (!file.startsWith(root + sep)) throw new BundleError(`bundle ${root} names a file outside itself: ${path}`);
    const bytes = await readFile(file).catch((error: unknown) => {
      throw new BundleError(`bundle ${root} is missing ${path}`, { cause: error });
    });
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
  return {
    directory: root,
    metadata,
    scaling: readScaling(contents.get(scalingFile) as Buffer, metadata.head.inputLength, root),
    references: metadata.openSet ? readReferences(contents.get(referencesFile) as Buffer, metadata, root) : null,
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
