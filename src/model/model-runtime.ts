import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { createFaceEmbeddingBackbone } from "./backbones/face-embedding.js";
import type { Backbone, BackboneId } from "./backbones/types.js";
import { createVgg16Backbone, randomVgg16Weights, readVgg16H5, resolveVgg16WeightsFile, type Vgg16EngineChoice } from "./backbones/vgg16/index.js";
import type { BackboneReference } from "./bundle.js";
import { defaultCropPolicy } from "./face/crop.js";
import { createFaceDetector, type FaceDetector } from "./face/detector.js";
import { FaceBoxCache, faceCropPlanner } from "./face-planner.js";
import { simpleCropPlanner, type CropPlanner } from "./features.js";
import { loadTf, type TfEngine } from "./runtime.js";
import type * as tfjs from "@tensorflow/tfjs";

/**
 * Everything a training run needs besides data, built from the configuration: TensorFlow.js for
 * the head, the backbone (chosen, loaded and announced), and the crop planner.
 */

export interface ModelRuntime {
  tf: typeof tfjs;
  tfEngine: TfEngine;
  backbone: Backbone;
  backboneReference: Pick<BackboneReference, "id" | "weightsSource" | "pooling" | "precision">;
  planner: CropPlanner;
  dispose(): Promise<void>;
}

export interface BackboneChoice {
  backbone: BackboneId;
  decidedAt: string;
  reason: string;
}

export function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : resolve(path);
}

const faceApiPackage = "@vladmandic/face-api@1.7.15";

/**
 * `auto` picks vgg16 when the ImageNet weights are configured, cached or downloadable, else the
 * face-embedding network that ships inside an npm package, and remembers the choice in the store:
 * a later run must not silently switch backbones because the network came back.
 */
export async function chooseBackbone(config: FaceopsConfig, store: StoreLayout, log: Logger): Promise<BackboneChoice> {
  const wanted = config.model.backbone;
  if (wanted !== "auto") return { backbone: wanted, decidedAt: new Date().toISOString(), reason: `model.backbone is ${wanted}` };
  const remembered = await readJsonOr<BackboneChoice | null>(store.backboneChoice, null);
  if (remembered) {
    log.info({ backbone: remembered.backbone, decidedAt: remembered.decidedAt }, "backbone chosen earlier for this store");
    return remembered;
  }
  let choice: BackboneChoice;
  if (config.model.vgg16Weights === "random") {
    choice = { backbone: "vgg16", decidedAt: new Date().toISOString(), reason: "model.vgg16Weights is random" };
  } else {
    try {
      await resolveVgg16WeightsFile({ source: config.model.vgg16Weights || undefined, cacheDir: expandHome(config.cache), log });
      choice = { backbone: "vgg16", decidedAt: new Date().toISOString(), reason: "the ImageNet VGG16 weights are available" };
    } catch (error) {
      choice = {
        backbone: "face-embedding",
        decidedAt: new Date().toISOString(),
        reason: `the ImageNet VGG16 weights are not available (${(error as Error).message.split("\n")[0]}); using the face-embedding network shipped with ${faceApiPackage}`,
      };
      log.warn(
        { backbone: choice.backbone, store: store.root },
        `BACKBONE: ${choice.reason}. This choice is kept for this store; set model.backbone to change it.`,
      );
    }
  }
  await writeJsonAtomic(store.backboneChoice, choice);
  return choice;
}

function vgg16Engine(config: FaceopsConfig): Vgg16EngineChoice {
  if (config.engine === "auto") return "auto";
  return config.engine === "onnxruntime" ? "onnxruntime" : "tfjs";
}

async function createBackbone(config: FaceopsConfig, choice: BackboneChoice, log: Logger): Promise<{ backbone: Backbone; weightsSource: string }> {
  if (choice.backbone === "face-embedding") {
    return { backbone: await createFaceEmbeddingBackbone({ log, batchSize: config.model.batchSize }), weightsSource: `npm:${faceApiPackage}` };
  }
  const common = { inputSize: config.vision.size, pooling: config.model.pooling, engine: vgg16Engine(config), log, batchSize: config.model.batchSize, precision: config.model.precision };
  if (config.model.vgg16Weights === "random") {
    log.warn({ seed: config.train.seed }, "VGG16 with RANDOM weights: only for tests and benchmarks; the model will not recognise anyone");
    return { backbone: await createVgg16Backbone({ ...common, weights: randomVgg16Weights(config.train.seed) }), weightsSource: `random:${config.train.seed}` };
  }
  const file = await resolveVgg16WeightsFile({ source: config.model.vgg16Weights || undefined, cacheDir: expandHome(config.cache), log });
  return { backbone: await createVgg16Backbone({ ...common, weights: await readVgg16H5(file.path) }), weightsSource: file.url ?? file.path };
}

/**
 * Rebuilds the backbone a bundle was trained with and proves it is the same one: a different
 * fingerprint would mean different features, and a head trained on other features predicts noise.
 */
export async function backboneForBundle(reference: BackboneReference, config: FaceopsConfig, log: Logger): Promise<Backbone> {
  // The bundle's precision, not the configuration's: its head was trained on those features.
  const common = { inputSize: reference.inputSize, engine: vgg16Engine(config), log, batchSize: config.model.batchSize, precision: reference.precision ?? "fp32" };
  let backbone: Backbone;
  if (reference.id === "face-embedding") {
    backbone = await createFaceEmbeddingBackbone({ log, batchSize: config.model.batchSize });
  } else {
    const pooling = reference.pooling === "flatten" ? "flatten" : "avg";
    const seed = /^random:(\d+)$/.exec(reference.weightsSource)?.[1];
    if (seed !== undefined) {
      backbone = await createVgg16Backbone({ ...common, pooling, weights: randomVgg16Weights(Number(seed)) });
    } else {
      // The configured source wins (the file may have moved), then the recorded one, then the cache.
      const source = config.model.vgg16Weights || reference.weightsSource || undefined;
      const file = await resolveVgg16WeightsFile({ source, cacheDir: expandHome(config.cache), log });
      backbone = await createVgg16Backbone({ ...common, pooling, weights: await readVgg16H5(file.path) });
    }
  }
  try {
    assertBundleBackbone(reference, backbone.fingerprint);
  } catch (error) {
    await backbone.dispose();
    throw error;
  }
  return backbone;
}

/** A backbone with another fingerprint gives other features, on which the bundle's head predicts noise. */
export function assertBundleBackbone(reference: Pick<BackboneReference, "fingerprint">, fingerprint: string): void {
  if (fingerprint !== reference.fingerprint) {
    throw new Error(`the bundle was trained on backbone ${reference.fingerprint}, but this machine builds ${fingerprint}; its features would not match`);
  }
}

export async function openModelRuntime(options: { config: FaceopsConfig; store: StoreLayout; log: Logger }): Promise<ModelRuntime> {
  const { config, store, log } = options;
  const tfEngine = config.engine.startsWith("tfjs-") ? (config.engine as TfEngine) : undefined;
  const { tf, engine, skipped } = await loadTf(tfEngine);
  log.info({ engine, skipped }, "TensorFlow.js engine");
  const choice = await chooseBackbone(config, store, log);
  const { backbone, weightsSource } = await createBackbone(config, choice, log);
  let detector: FaceDetector | null = null;
  let planner: CropPlanner;
  try {
    if (config.model.crop === "face") {
      detector = await createFaceDetector({ log, landmarks: defaultCropPolicy.anchor !== "box" });
      planner = faceCropPlanner({ detector, policy: defaultCropPolicy, boxes: await FaceBoxCache.load(store.faceBoxes), log });
    } else {
      planner = simpleCropPlanner(config.model.crop);
    }
  } catch (error) {
    await backbone.dispose();
    throw error;
  }
  log.info({ backbone: backbone.id, engine: backbone.engine, fingerprint: backbone.fingerprint, crop: config.model.crop }, "model runtime ready");
  return {
    tf,
    tfEngine: engine,
    backbone,
    backboneReference: {
      id: backbone.id,
      weightsSource,
      pooling: backbone.id === "vgg16" ? config.model.pooling : "none",
      precision: backbone.id === "vgg16" ? config.model.precision : "fp32",
    },
    planner,
    dispose: async () => {
      await detector?.dispose();
      await backbone.dispose();
    },
  };
}
