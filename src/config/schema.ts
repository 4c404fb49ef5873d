import { availableParallelism } from "node:os";
import { z } from "zod";
import { formatByteSize, formatDuration, maxTimerDelayMs, parseByteSize, parseDuration } from "./units.js";

/*
 * The whole of faceops.yaml. Every key has a default, so an empty file (or none) is a valid
 * configuration, and the set of keys (and therefore of FACEOPS_* variables) can be derived from
 * the defaults alone. Values arriving from the environment or `--set` are strings; the number,
 * boolean, duration and size helpers below accept both forms.
 */

function fromNumericString(value: unknown): unknown {
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return value;
}

function fromBooleanString(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const lowered = value.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(lowered)) return true;
  if (["false", "0", "no", "off"].includes(lowered)) return false;
  return value;
}

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(fromNumericString, z.number().int().min(min).max(max));
const fraction = () => z.preprocess(fromNumericString, z.number().gt(0).lt(1));
export const booleanValue = () => z.preprocess(fromBooleanString, z.boolean());

/**
 * Bounds of a duration or a size key, in its unit (milliseconds or bytes). Every such key is bounded
 * on both sides: 0 or a tiny interval turns a polling loop into a busy loop, and a huge one is a
 * typo that silently never fires.
 */
export interface Bounds {
  min: number;
  max: number;
}

/** A duration: milliseconds as a number, or text such as "30s". Parsed to milliseconds and bounded. */
const duration = (bounds: Partial<Bounds> = {}) => {
  const { min = 1, max = maxTimerDelayMs } = bounds;
  // Node's timers fire at once for longer delays, so no bound may pass it (a mistake in this file, not in a config).
  if (!(min >= 0 && min <= max && max <= maxTimerDelayMs)) throw new RangeError(`duration bounds [${min}, ${max}] must lie within [0, ${maxTimerDelayMs}] ms`);
  return z.union([z.number(), z.string()]).transform((value, context) => {
    let milliseconds: number;
    try {
      milliseconds = typeof value === "number" ? value : parseDuration(value);
    } catch (error) {
      context.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
    const problem = outOfBounds(milliseconds, { min, max }, formatDuration);
    if (problem) {
      context.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    return milliseconds;
  });
};

/** A size: bytes as a number, or text such as "20MB". Parsed to whole bytes and bounded. */
const byteSize = (bounds: Partial<Bounds> = {}) => {
  const { min = 1, max = 2 ** 31 - 1 } = bounds;
  if (!(min >= 1 && min <= max && max <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`size bounds [${min}, ${max}] must be positive and ordered`);
  return z.union([z.number(), z.string()]).transform((value, context) => {
    let bytes: number;
    try {
      bytes = typeof value === "number" ? value : parseByteSize(value);
    } catch (error) {
      context.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
    const problem = Number.isInteger(bytes) ? outOfBounds(bytes, { min, max }, formatByteSize) : `${bytes} is not a whole number of bytes`;
    if (problem) {
      context.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    return bytes;
  });
};

/** The sentence for a value outside its bounds, or null. Both bounds are named, so one fix suffices. */
function outOfBounds(value: number, bounds: Bounds, format: (value: number) => string): string | null {
  if (value >= bounds.min && value <= bounds.max) return null;
  const side = value < bounds.min ? "below the minimum" : "above the maximum";
  return `${format(value)} is ${side}; use a value from ${format(bounds.min)} to ${format(bounds.max)}`;
}

/** The engines a configuration can name; `auto` picks the best one available. */
export const engineNames = ["auto", "onnxruntime", "tfjs-node-gpu", "tfjs-node", "tfjs-wasm", "tfjs-cpu"] as const;
export type EngineName = (typeof engineNames)[number];

/** The most face-path workers a configuration may ask for: each holds its own copy of the nets (~150 MB). */
export const maxEngineWorkers = 64;

const engineSchema = z.strictObject({
  /** auto, onnxruntime, or a TensorFlow.js engine: tfjs-node-gpu, tfjs-node, tfjs-wasm, tfjs-cpu. */
  name: z.enum(engineNames).default("auto"),
  /**
   * Worker threads of the face path (decoding, face detection and landmarks, the face-embedding
   * network), used by training, `faceops predict` and the service: auto (one per core,
   * os.availableParallelism()) or 0..64; 0 runs everything on the calling thread (for debugging).
   */
  workers: z.preprocess(fromNumericString, z.union([z.literal("auto"), z.number().int().min(0).max(maxEngineWorkers)])).default("auto" as const),
});

/**
 * `engine` was a plain engine name before it held the workers too; that form (`engine: tfjs-wasm`
 * in a file or an object given to the schema) still names the engine.
 */
function engineShortForm(value: unknown): unknown {
  return typeof value === "string" ? { name: value } : value;
}

/** engine.workers as a number of threads: "auto" is one per core (`cores`, the machine's by default). */
export function resolveEngineWorkers(setting: number | "auto", cores = availableParallelism()): number {
  return setting === "auto" ? Math.max(1, Math.min(cores, maxEngineWorkers)) : setting;
}

const logSchema = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** auto: readable lines on a terminal, JSON lines otherwise. */
  format: z.enum(["auto", "json", "pretty"]).default("auto"),
});

const sourceSchema = z.strictObject({
  /** A local git repository, a plain folder, or a URL to clone (https, ssh, git, file). */
  repo: z.string().min(1).default("./faces"),
  branch: z.string().min(1).default("main"),
  /** User name for HTTPS remotes; the password or token comes from FACEOPS_GIT_PASSWORD or passwordFile. */
  username: z.string().default(""),
  /** A file holding the HTTPS password or token (a mounted Secret, for example). */
  passwordFile: z.string().default(""),
  /** A private key file for SSH remotes. */
  sshKeyFile: z.string().default(""),
});

const datasetSchema = z.strictObject({
  /** A label with fewer valid photos than this is excluded from the dataset. */
  minImagesPerLabel: integer(1).default(5),
  /** Target share of each label's photos held out for testing. */
  testFraction: fraction().default(0.2),
  /** Photos smaller than this on either side are rejected. */
  minSide: integer(1).default(32),
  /** Photos with more pixels than this are refused from their header, before any decoding. */
  maxPixels: integer(1).default(40_000_000),
  /** Files larger than this are refused before they are read. A photo is read whole, so at most 1 GiB. */
  maxBytes: byteSize({ min: 1_000, max: 1024 ** 3 }).default(20_000_000),
  /** Photos decoded at once while checking a dataset. */
  concurrency: integer(1, 64).default(8),
  /**
   * With face crops, a photo in which no face is found is left out of training (a no_face reject)
   * instead of being cropped at the dataset's median face box (a no_face warning).
   */
  requireFace: booleanValue().default(false),
});

const visionSchema = z.strictObject({
  /** Side of the square the backbone sees. */
  size: integer(8, 4096).default(224),
  /** crop: centred square; pad: letterbox the whole photo. */
  fit: z.enum(["crop", "pad"]).default("crop"),
});

const modelSchema = z.strictObject({
  /**
   * vgg16: ImageNet VGG16 conv base (needs its weights); face-embedding: face-api's 128-d face
   * recognition network, shipped in the npm package; face-embedding-mirrored: the same network on
   * the crop and its mirror image, descriptors averaged (twice the work); faceres: HSE FaceRes' 1024-d MobileNet
   * descriptor, shipped in the optional npm package @vladmandic/human (never chosen by auto); auto:
   * vgg16 when its weights are cached or downloadable, else face-embedding, remembered per store so
   * results do not flip with the network.
   */
  backbone: z.enum(["auto", "vgg16", "face-embedding", "face-embedding-mirrored", "faceres"]).default("auto"),
  /** A path or http(s) URL of the Keras notop weights file, or "random" (tests and benchmarks only). */
  vgg16Weights: z.string().default(""),
  /** How VGG16's 7x7x512 feature map becomes a vector: avg (512) or flatten (25,088). */
  pooling: z.enum(["avg", "flatten"]).default("avg"),
  /** face: crop around the detected face; center: centred square; none: the whole photo. */
  crop: z.enum(["face", "center", "none"]).default("face"),
  /** Photos sent through the backbone per call. */
  batchSize: integer(1, 256).default(8),
  /**
   * VGG16's arithmetic: fp32 is Keras' own; int8 quantises the convolutions (calibrated on the
   * example faces), about 4x faster on CPUs with VNNI; its features differ slightly from fp32's
   * (cosine > 0.9999 on LFW photos), so it has its own fingerprint and cache entries.
   */
  precision: z.enum(["fp32", "int8"]).default("fp32"),
});

const trainSchema = z.strictObject({
  epochs: integer(1, 10_000).default(5),
  learningRate: z.preprocess(fromNumericString, z.number().gt(0).lte(10)).default(0.001),
  batchSize: integer(1, 65_536).default(32),
  /** Width of the head's hidden dense layer. */
  units: integer(1, 65_536).default(256),
  dropout: z.preprocess(fromNumericString, z.number().min(0).lt(1)).default(0.5),
  /** balanced: weight each class by n / (classes x n_class), so a person with 530 photos does not drown one with 10. */
  classWeights: z.enum(["balanced", "none"]).default("balanced"),
  /** Stop when the validation loss has not improved for this many epochs; 0 turns early stopping off. */
  earlyStoppingPatience: integer(0, 10_000).default(0),
  /**
   * Augmented copies precomputed per training photo (K); test photos are never augmented. Default 0:
   * on all of lfw-min10 with the default backbone, K = 0, 1, 2, 4 gave 99.36 / 99.39 / 99.26 / 99.50%
   * balanced accuracy (mean of three head seeds), so no copy is the cheapest setting within 0.2
   * points of the best, at a quarter of K=4's embeddings (bench/augment-study.ts, BENCHMARKS.md).
   */
  augmentVariants: integer(0, 64).default(0),
  /** Seeds weight initialisation, dropout, shuffling and augmentation. */
  seed: integer(0, 2 ** 31 - 1).default(42),
});

const augmentSchema = z.strictObject({
  rotationRange: z.preprocess(fromNumericString, z.number().min(0).max(180)).default(15),
  widthShiftRange: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.1),
  heightShiftRange: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.1),
  zoomRange: z.preprocess(fromNumericString, z.number().min(0).lt(1)).default(0.1),
  horizontalFlip: booleanValue().default(true),
  brightnessMin: z.preprocess(fromNumericString, z.number().gt(0)).default(0.8),
  brightnessMax: z.preprocess(fromNumericString, z.number().gt(0)).default(1.2),
});

const openSetSchema = z.strictObject({
  /**
   * Largest distance from a photo's unit-length feature vector to the nearest training photo's for
   * it to be named; further is "unknown". auto: calibrated on the training photos (see
   * src/model/open-set.ts); off: always name a known label. A number set here also overrides the
   * bundle's threshold when serving.
   */
  maxDistance: z
    .preprocess(fromNumericString, z.union([z.literal("auto"), z.literal("off"), z.number().gt(0).lte(2)]))
    .default("auto" as const),
  /**
   * The two-level answer: a named answer further than this from every training photo (but within
   * maxDistance) says `confident: false`. auto: calibrated with maxDistance (see
   * src/model/stranger-calibration.ts); off: every named answer is confident; a number set here also
   * overrides the bundle's when serving. Never beyond maxDistance.
   */
  confidentDistance: z
    .preprocess(fromNumericString, z.union([z.literal("auto"), z.literal("off"), z.number().gt(0).lte(2)]))
    .default("auto" as const),
  /**
   * People of the training split held out as pseudo-strangers to calibrate on: auto (20% of the
   * people, at least 1 and at most 30, none below 3 people) or a count; 0 calibrates on the known
   * people alone (the quantile rule), unless the dataset has a _not/ folder of strangers.
   */
  calibrationStrangers: z.preprocess(fromNumericString, z.union([z.literal("auto"), z.number().int().min(0).max(10_000)])).default("auto" as const),
  /** Share of calibration strangers maxDistance auto must reject, 0..1. */
  targetStrangerRejection: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.97),
  /** Largest share of known photos maxDistance auto may reject at calibration, 0..1; it wins over the target. */
  maxKnownRejection: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.01),
  /** Share of calibration strangers confidentDistance auto must reject, 0..1. */
  confidentStrangerRejection: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.995),
  /**
   * What a photo's distance is measured to when training: class-mean, each person's mean direction
   * over their training photos (robust to one odd photo); nearest-photo, the nearest training photo
   * (the rule before issue 15). A bundle records its rule and is served by it (src/model/open-set.ts).
   */
  rule: z.enum(["class-mean", "nearest-photo"]).default("class-mean"),
});

/**
 * Faces the service could not name, kept in the store's inbox for a person to review and commit to
 * the face repository. Faces are personal data: off by default, bounded in count and age.
 */
const captureSchema = z.strictObject({
  enabled: booleanValue().default(false),
  /** Also keep faces named with a lead of less than this over the second label (0: only "unknown" faces). */
  lowMargin: fraction().default(0.1),
  /** Faces kept at most; the oldest go first. */
  maxItems: integer(1, 100_000).default(500),
  /** Faces older than this are removed. */
  maxAgeDays: integer(1, 3_650).default(30),
  /** Keep the whole photo beside the face crop (more personal data: the people and places around the face). */
  keepPhoto: booleanValue().default(false),
});

const serveSchema = z.strictObject({
  port: integer(0, 65_535).default(8080),
  /**
   * The address to listen on. 127.0.0.1 keeps run records, /metrics and recognition on this machine;
   * the container image and the Kubernetes manifests set 0.0.0.0, where the pod's network is the boundary.
   */
  host: z.string().min(1).default("127.0.0.1"),
  /** Photos grouped into one backbone call at most. */
  maxBatch: integer(1, 256).default(8),
  /** How long the first photo of a batch waits for company. */
  maxDelayMs: integer(0, 10_000).default(5),
  /** Largest accepted upload (a raw body, or one file of a multipart body): 1 kB to 100 MB. */
  maxBodyBytes: byteSize({ min: 1_000, max: 100_000_000 }).default(10_000_000),
  /** Most photos in one request. */
  maxImagesPerRequest: integer(1, 256).default(16),
  /**
   * Request-body bytes held in memory at once across all requests in progress; a request that
   * does not fit is refused with 503 and Retry-After. 1MB to 1000GB; the default leaves room for two
   * of the largest /v2 requests (16 photos of 10 MB as base64) and their decoded photos in 2 GiB.
   */
  maxBufferedBytes: byteSize({ min: 1_000_000, max: 1_000_000_000_000 }).default(512_000_000),
  /**
   * Photos with more pixels than this are refused from their header (400 image_too_large), before
   * any decoding. 25 MP takes a 24 MP camera's photo; more gains nothing (photos are decoded at 2048
   * pixels on a side) and costs memory where a format must be decoded whole (AVIF: ~18 bytes a pixel).
   */
  maxPixels: integer(1, 100_000_000).default(25_000_000),
  /**
   * Photos decoded and cropped at once across all requests (the memory of decoding scales with it);
   * auto: as many as the face path has workers (engine.workers, at least 1), so every photo admitted
   * to decoding finds a worker free.
   */
  decodeConcurrency: z.preprocess(fromNumericString, z.union([z.literal("auto"), z.number().int().min(1).max(64)])).default("auto" as const),
  /** After SIGTERM, how long in-flight requests may take before connections are cut: 0 (cut at once) to 1 h. */
  gracePeriod: duration({ min: 0, max: 3_600_000 }).default(25_000),
  /** How often a server following a store re-reads the current-version pointer: 100 ms to 1 h. */
  checkInterval: duration({ min: 100, max: 3_600_000 }).default(5_000),
  /** Faces kept for review (the inbox): off unless asked for. */
  capture: captureSchema.default(captureSchema.parse({})),
});

/** Reviewed faces committed to the face repository (faceops inbox, the page's review). */
const reviewSchema = z.strictObject({
  /** The branch a local repository's reviewed faces are committed to; empty: the watched branch. A remote gets faceops/review-<n>. */
  branch: z.string().default(""),
  /** Who commits them; the author is the reviewer when one is named. */
  committerName: z.string().min(1).default("faceops"),
  committerEmail: z.string().min(1).default("faceops@localhost"),
});

const gateSchema = z.strictObject({
  /** Test accuracy a candidate needs on its held-out photos, 0..1. */
  minAccuracy: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.9),
  /** How much worse than the model in service a candidate may be on the same photos, 0..1. */
  maxRegression: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.01),
  /** Share of strangers the candidate must answer "unknown" (measured at training, see docs/model.md), 0..1. */
  minStrangerRejection: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.9),
  /** Largest share of known test photos the candidate may answer "unknown", 0..1. */
  maxKnownRejection: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.05),
  /** How much lower than the model in service's any one person's test recall may be, 0..1 (people known to both). */
  maxPersonRegression: z.preprocess(fromNumericString, z.number().min(0).max(1)).default(0.25),
});

const controllerSchema = z.strictObject({
  /**
   * How often the watched branch is looked at (webhooks and POST /v1/runs look at once): 500 ms to
   * 1 d. Each look runs git (a fetch for a remote), so faster than twice a second is never wanted.
   */
  pollInterval: duration({ min: 500, max: 86_400_000 }).default(30_000),
  /** A newer commit while a run is active: queue (the run finishes first) or supersede (it is stopped). */
  onNewCommit: z.enum(["queue", "supersede"]).default("queue"),
  /** Attempts per run, counting the first. */
  maxAttempts: integer(1, 100).default(4),
  /**
   * Crashed attempts (no result: the process died, lost or timed out), the first included, at which a
   * run gives up; attempts the gate refused count against maxAttempts only. Formerly maxFailedAttempts
   * (still accepted, with a deprecation warning: see renamedKeys in load.ts).
   */
  maxCrashedAttempts: integer(1, 100).default(2),
  /** Attempts running at once. */
  parallelAttempts: integer(1, 64).default(1),
  /** An attempt still running after this is stopped and counts as crashed: 10 s to 7 d. */
  attemptTimeout: duration({ min: 10_000, max: 7 * 86_400_000 }).default(7_200_000),
  /** How long a promoted version has to be reported ready before it is rolled back: 1 s to 1 d. */
  rolloutDeadline: duration({ min: 1_000, max: 86_400_000 }).default(120_000),
  /** A file holding the bearer token (or FACEOPS_API_TOKEN) for POST /v1/runs and, once set, for the runs API's reads. Unset: runs cannot be requested over HTTP. */
  apiTokenFile: z.string().default(""),
  /** A file holding the webhook secret (or FACEOPS_WEBHOOK_SECRET). Unset: POST /v1/webhook is refused. */
  webhookSecretFile: z.string().default(""),
});

/** A JSON text (from the environment or --set) or the value itself. */
function fromJsonString(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

const tolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.number().int().optional(),
});

/**
 * A Kubernetes resource quantity ("512Mi", "2Gi", "1.5G"), checked here so that a typo stops the
 * controller at start-up instead of failing every training Job with a 422 from the API server.
 */
const quantity = () =>
  z
    .string()
    .regex(/^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[kMGTPE]|m|[eE][+-]?[0-9]+)?$/, "must be a Kubernetes quantity such as 512Mi or 2Gi");

const kubernetesSchema = z.strictObject({
  /** Namespace of the training Jobs and the inference Deployment; "" means the controller's own (in a cluster). */
  namespace: z.string().default(""),
  /** The image training Jobs run (CUDA + tfjs-node-gpu); it runs `faceops attempt`. */
  trainerImage: z.string().min(1).default("ghcr.io/faceops/faceops-trainer:0.1.0"),
  /** nvidia.com/gpu per training Job; 0 on clusters without GPUs. */
  gpus: integer(0, 16).default(1),
  trainerCpu: z.string().min(1).default("2"),
  trainerMemory: z.string().min(1).default("6Gi"),
  /** Node labels training Jobs must run on, e.g. {"nvidia.com/gpu.present": "true"}. */
  nodeSelector: z.preprocess(fromJsonString, z.record(z.string(), z.string())).default({}),
  tolerations: z.preprocess(fromJsonString, z.array(tolerationSchema)).default([]),
  priorityClassName: z.string().default(""),
  /** The ReadWriteMany claim holding the store, and where pods mount it (the store key must point there). */
  storeClaim: z.string().min(1).default("faceops-store"),
  storeMountPath: z.string().min(1).default("/store"),
  /** A Secret with git credentials for the Jobs (keys: username, password, ssh-privatekey); "" for none. */
  gitSecret: z.string().default("faceops-git"),
  /** Job retries inside Kubernetes; the controller's own policy retries attempts, so 0 by default. */
  backoffLimit: integer(0, 20).default(0),
  /**
   * Finished Jobs are deleted after this (their results are in the store): 1 min to 7 d, so the
   * controller sees each Job's outcome before Kubernetes removes it.
   */
  ttlAfterFinished: duration({ min: 60_000, max: 7 * 86_400_000 }).default(86_400_000),
  /** A training pod that stays Pending (unschedulable) this long fails its attempt: 1 s to 1 d. */
  pendingTimeout: duration({ min: 1_000, max: 86_400_000 }).default(600_000),
  /** The inference Deployment a promotion rolls. */
  deployment: z.string().min(1).default("faceops-inference"),
  /**
   * The ServiceAccount training pods run as: one of their own, bound to no Role, and its token is
   * never mounted (a training pod talks to no API server). It must exist in the namespace: the API
   * server refuses pods naming a missing one.
   */
  trainerServiceAccount: z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, "must be a ServiceAccount name (DNS subdomain)").default("faceops-trainer"),
  /** Local disk a training pod may use (its /tmp, logs, writable layer), as request and limit: beyond it the kubelet evicts the pod. */
  trainerEphemeralStorage: quantity().default("2Gi"),
  /** sizeLimit of a training pod's /tmp (an emptyDir); counted within trainerEphemeralStorage. */
  trainerTmpSize: quantity().default("1Gi"),
});

export const configSchema = z.strictObject({
  /** Where faceops keeps its state: caches, runs, model versions. */
  store: z.string().min(1).default(".faceops"),
  /** Where downloaded model weights are kept, shared by every store of this user. */
  cache: z.string().min(1).default("~/.cache/faceops"),
  /** The engine the networks run on, and the worker threads of the face path (see engineSchema). */
  engine: z.preprocess(engineShortForm, engineSchema).default(engineSchema.parse({})),
  log: logSchema.default(logSchema.parse({})),
  source: sourceSchema.default(sourceSchema.parse({})),
  dataset: datasetSchema.default(datasetSchema.parse({})),
  vision: visionSchema.default(visionSchema.parse({})),
  model: modelSchema.default(modelSchema.parse({})),
  train: trainSchema.default(trainSchema.parse({})),
  augment: augmentSchema.default(augmentSchema.parse({})),
  openSet: openSetSchema.default(openSetSchema.parse({})),
  serve: serveSchema.default(serveSchema.parse({})),
  gate: gateSchema.default(gateSchema.parse({})),
  review: reviewSchema.default(reviewSchema.parse({})),
  controller: controllerSchema.default(controllerSchema.parse({})),
  kubernetes: kubernetesSchema.default(kubernetesSchema.parse({})),
});

export type FaceopsConfig = z.output<typeof configSchema>;
export type DatasetConfig = FaceopsConfig["dataset"];
export type SourceConfig = FaceopsConfig["source"];
export type ModelConfig = FaceopsConfig["model"];
export type TrainConfig = FaceopsConfig["train"];
export type AugmentConfig = FaceopsConfig["augment"];
export type ServeConfig = FaceopsConfig["serve"];
export type OpenSetConfig = FaceopsConfig["openSet"];
export type GateConfig = FaceopsConfig["gate"];
export type ControllerConfig = FaceopsConfig["controller"];
export type KubernetesConfig = FaceopsConfig["kubernetes"];
export type EngineConfig = FaceopsConfig["engine"];

/**
 * `duration()` and `byteSize()` are exported for sections that later issues add. Give each key the
 * bounds that are meaningful for it; without them a duration is 1 ms to the timer limit and a size
 * 1 byte to 2 GiB.
 */
export { byteSize, duration };
