import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import { loadTf, type TfEngine, type TfRuntime } from "../tfjs-engine.js";

/**
 * @vladmandic/face-api, loaded so that it runs on the TensorFlow.js instance faceops chose.
 *
 * face-api ships one CommonJS build per engine, each of which `require`s its own tfjs package.
 * Loading the build that matches `loadTf()` makes both share one tfjs module, hence one engine,
 * one backend and one tensor registry: a second tfjs copy would run on its own (slow "cpu")
 * backend and its tensors would not count in `tf.memory()`.
 *
 * face-api's bundled typings declare their own Tensor class, which TypeScript does not accept in
 * place of @tensorflow/tfjs's, so the small part faceops calls is typed here by hand.
 */

export interface FaceApiBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FaceApiDetection {
  score: number;
  box: FaceApiBox;
}

export interface FaceApiLandmarks {
  positions: Array<{ x: number; y: number }>;
}

interface FaceApiNet {
  readonly isLoaded: boolean;
  loadFromDisk(modelDir: string): Promise<void>;
  dispose(throwOnRedispose?: boolean): void;
}

interface DetectorNet extends FaceApiNet {
  locateFaces(input: tfjs.Tensor3D, options: object): Promise<FaceApiDetection[]>;
}

interface LandmarkNet extends FaceApiNet {
  detectLandmarks(input: tfjs.Tensor3D): Promise<FaceApiLandmarks>;
}

interface RecognitionNet extends FaceApiNet {
  /** With an array input the tensors are stacked into one batch and run in one forward pass. */
  computeFaceDescriptor(input: tfjs.Tensor3D[]): Promise<Float32Array[]>;
}

interface FaceApiModule {
  version: string;
  tf: Pick<typeof tfjs, "engine" | "getBackend">;
  nets: {
    ssdMobilenetv1: DetectorNet;
    tinyFaceDetector: DetectorNet;
    faceLandmark68Net: LandmarkNet;
    faceRecognitionNet: RecognitionNet;
  };
  SsdMobilenetv1Options: new (options: { minConfidence?: number; maxResults?: number }) => object;
  TinyFaceDetectorOptions: new (options: { inputSize?: number; scoreThreshold?: number }) => object;
}

export type NetName = keyof FaceApiModule["nets"];

export interface FaceApi {
  runtime: TfRuntime;
  api: FaceApiModule;
  /** The folder of weight files shipped inside the package. */
  modelDir: string;
}

/*
 * tfjs-cpu uses the wasm build too: it needs only @tensorflow/tfjs, plus the wasm backend package,
 * which is a regular dependency. Requiring that package registers the wasm backend but does not
 * switch to it, so the backend loadTf() set stays in use.
 */
const builds: Record<TfEngine, string> = {
  "tfjs-node-gpu": "@vladmandic/face-api/dist/face-api.node-gpu.js",
  "tfjs-node": "@vladmandic/face-api/dist/face-api.node.js",
  "tfjs-wasm": "@vladmandic/face-api/dist/face-api.node-wasm.js",
  "tfjs-cpu": "@vladmandic/face-api/dist/face-api.node-wasm.js",
};

let loading: Promise<FaceApi> | null = null;

/** Loads face-api once per process, on the engine `loadTf()` returns. */
export function loadFaceApi(): Promise<FaceApi> {
  loading ??= initialise();
  return loading;
}

async function initialise(): Promise<FaceApi> {
  const runtime = await loadTf();
  const require = createRequire(import.meta.url);
  const buildPath = require.resolve(builds[runtime.engine]);
  const api = require(buildPath) as FaceApiModule;
  assertSharedEngine(api, runtime);
  return { runtime, api, modelDir: join(dirname(buildPath), "..", "model") };
}

function assertSharedEngine(api: FaceApiModule, runtime: TfRuntime): void {
  if (api.tf.engine() !== runtime.tf.engine()) {
    throw new Error(
      `face-api ${api.version} loaded its own TensorFlow.js (backend ${api.tf.getBackend()}) instead of sharing faceops's ` +
        `${runtime.engine} (backend ${runtime.tf.getBackend()}); two tfjs copies are installed, run npm dedupe`,
    );
  }
}

/*
 * The nets are process-wide singletons inside face-api, shared by every detector and backbone.
 * A count of users per net loads the weights on first use and frees them when the last user is
 * disposed. Each net's loads and frees are chained so that a free never overtakes a load.
 */
interface NetSlot {
  users: number;
  chain: Promise<void>;
}

const slots = new Map<NetName, NetSlot>();

function slotFor(name: NetName): NetSlot {
  let slot = slots.get(name);
  if (!slot) {
    slot = { users: 0, chain: Promise.resolve() };
    slots.set(name, slot);
  }
  return slot;
}

/** Loads the net's weights unless another user already did; pair every call with `releaseNet`. */
export async function acquireNet(faceApi: FaceApi, name: NetName): Promise<void> {
  const net = faceApi.api.nets[name];
  const slot = slotFor(name);
  slot.users += 1;
  if (slot.users === 1) slot.chain = slot.chain.then(() => (net.isLoaded ? undefined : net.loadFromDisk(faceApi.modelDir)));
  try {
    await slot.chain;
  } catch (error) {
    slot.users -= 1;
    slot.chain = Promise.resolve();
    throw new Error(`cannot load the face-api ${name} weights from ${faceApi.modelDir}: ${(error as Error).message}`, { cause: error });
  }
}

export async function releaseNet(faceApi: FaceApi, name: NetName): Promise<void> {
  const net = faceApi.api.nets[name];
  const slot = slotFor(name);
  if (slot.users === 0) return;
  slot.users -= 1;
  if (slot.users === 0) slot.chain = slot.chain.then(() => (net.isLoaded ? net.dispose(false) : undefined));
  await slot.chain;
}

/** sha256 of a weight file in the package's model folder, e.g. "face_recognition_model.bin". */
export async function modelFileSha256(faceApi: FaceApi, file: string): Promise<string> {
  const path = join(faceApi.modelDir, file);
  try {
    return createHash("sha256").update(await readFile(path)).digest("hex");
  } catch (error) {
    throw new Error(`cannot read the face-api weight file ${path}: ${(error as Error).message}`, { cause: error });
  }
}
