import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { createFaceEmbeddingBackbone, faceEmbeddingLicence, type FaceEmbeddingEngineChoice } from "./backbones/face-embedding.js";
import { createFaceresBackbone, faceresLicence } from "./backbones/faceres.js";
import type { Backbone, BackboneId, Pooling } from "./backbones/types.js";
import {
  createVgg16Backbone,
  randomVgg16Weights,
  readVgg16H5,
  resolveVgg16WeightsFile,
  type Vgg16EngineChoice,
  type Vgg16Precision,
  type Vgg16Weights,
} from "./backbones/vgg16/index.js";
import type { BackboneReference } from "./bundle.js";

/**
 * The one place backbones are built. A training run asks for the backbone its configuration
 * describes (configuredBackbone), a bundle for the one it was trained with (bundleBackbone); both
 * descriptions are plain data, and createBackbone turns either into a running backbone, finding the
 * VGG16 weights or making random ones. Which backbone `auto` means for a store is chooseBackbone's.
 *
 * Usage:
 *   const choice = await chooseBackbone(config, store, log);
 *   const { backbone, reference } = await createBackbone(configuredBackbone(config, choice), config, log);
 * or, for a training run, both at once: openConfiguredBackbone(config, store, log).
 */

/** Which VGG16 weights: seeded random ones (tests and benchmarks only), or the Keras file. */
export type Vgg16WeightsSpec =
  | { kind: "random"; seed: number }
  /** A local path or an http(s) URL; undefined looks in the cache, then downloads from Keras. */
  | { kind: "file"; source: string | undefined };

export type BackboneSpec =
  | { id: "face-embedding" }
  | { id: "face-embedding-mirrored" }
  | { id: "faceres" }
  | { id: "vgg16"; weights: Vgg16WeightsSpec; inputSize: number; pooling: Pooling; precision: Vgg16Precision };

export interface BuiltBackbone {
  backbone: Backbone;
  /** What a bundle records to build this backbone again (see backboneForBundle). */
  reference: Pick<BackboneReference, "id" | "weightsSource" | "pooling" | "precision" | "licence">;
}

export interface BackboneChoice {
  backbone: BackboneId;
  decidedAt: string;
  reason: string;
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : resolve(path);
}

const faceApiPackage = "@vladmandic/face-api@1.7.15";

/**
 * `auto` picks vgg16 when the ImageNet weights are configured, cached or downloadable, else the
 * face network that ships inside an npm package, on the crop and its mirror image
 * (face-embedding-mirrored: chosen by measurement, BENCHMARKS.md "Embedding networks for faces"),
 * and remembers the choice in the store: a later run must not silently switch backbones because the
 * network came back, and a store that chose face-embedding before keeps it.
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
        backbone: "face-embedding-mirrored",
        decidedAt: new Date().toISOString(),
        reason: `the ImageNet VGG16 weights are not available (${(error as Error).message.split("\n")[0]}); using the face network shipped with ${faceApiPackage}, on each crop and its mirror image`,
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

/** The backbone a training run builds: the chosen one, with the configuration's size, pooling, precision and weights. */
export function configuredBackbone(config: FaceopsConfig, choice: BackboneChoice): BackboneSpec {
  if (choice.backbone !== "vgg16") return { id: choice.backbone };
  const weights: Vgg16WeightsSpec =
    config.model.vgg16Weights === "random" ? { kind: "random", seed: config.train.seed } : { kind: "file", source: config.model.vgg16Weights || undefined };
  return { id: "vgg16", weights, inputSize: config.vision.size, pooling: config.model.pooling, precision: config.model.precision };
}

/**
 * The backbone a bundle was trained with. Its size, pooling and precision are the bundle's, not
 * the configuration's: its head was trained on those features. For real weights the configured
 * source wins (the file may have moved), then the recorded one, then the cache.
 */
export function bundleBackbone(reference: BackboneReference, config: FaceopsConfig): BackboneSpec {
  if (reference.id !== "vgg16") return { id: reference.id };
  const seed = /^random:(\d+)$/.exec(reference.weightsSource)?.[1];
  const weights: Vgg16WeightsSpec =
    seed !== undefined ? { kind: "random", seed: Number(seed) } : { kind: "file", source: config.model.vgg16Weights || reference.weightsSource || undefined };
  return {
    id: "vgg16",
    weights,
    inputSize: reference.inputSize,
    pooling: reference.pooling === "flatten" ? "flatten" : "avg",
    precision: reference.precision ?? "fp32",
  };
}

/** The engine `engine.name` asks the backbones for: VGG16 and face-api's network both run on either. */
function backboneEngine(config: FaceopsConfig): Vgg16EngineChoice & FaceEmbeddingEngineChoice {
  if (config.engine.name === "auto") return "auto";
  return config.engine.name === "onnxruntime" ? "onnxruntime" : "tfjs";
}

/** Builds the described backbone; the engine, batch size and weights cache come from the configuration. */
export async function createBackbone(spec: BackboneSpec, config: FaceopsConfig, log: Logger): Promise<BuiltBackbone> {
  if (spec.id === "face-embedding" || spec.id === "face-embedding-mirrored") {
    const backbone = await createFaceEmbeddingBackbone({
      log,
      batchSize: config.model.batchSize,
      mirror: spec.id === "face-embedding-mirrored",
      engine: backboneEngine(config),
    });
    return { backbone, reference: faceEmbeddingReference(spec.id) };
  }
  if (spec.id === "faceres") {
    const backbone = await createFaceresBackbone({ log, batchSize: config.model.batchSize });
    return { backbone, reference: { id: "faceres", weightsSource: backbone.weightsSource, pooling: "none", precision: "fp32", licence: faceresLicence } };
  }
  let weights: Vgg16Weights;
  let weightsSource: string;
  if (spec.weights.kind === "random") {
    weights = randomVgg16Weights(spec.weights.seed);
    weightsSource = `random:${spec.weights.seed}`;
  } else {
    const file = await resolveVgg16WeightsFile({ source: spec.weights.source, cacheDir: expandHome(config.cache), log });
    weights = await readVgg16H5(file.path);
    weightsSource = file.url ?? file.path;
  }
  const backbone = await createVgg16Backbone({
    weights,
    inputSize: spec.inputSize,
    pooling: spec.pooling,
    precision: spec.precision,
    engine: backboneEngine(config),
    batchSize: config.model.batchSize,
    log,
  });
  return { backbone, reference: { id: "vgg16", weightsSource, pooling: spec.pooling, precision: spec.precision } };
}

/** What a bundle records of the face-embedding backbone, wherever it runs (this thread or the face-path workers). */
export function faceEmbeddingReference(id: "face-embedding" | "face-embedding-mirrored"): BuiltBackbone["reference"] {
  return { id, weightsSource: `npm:${faceApiPackage}`, pooling: "none", precision: "fp32", licence: faceEmbeddingLicence };
}

/** The backbone a training run on this store uses: chosen (`auto`) and announced, not yet built. */
export async function configuredBackboneSpec(config: FaceopsConfig, store: StoreLayout, log: Logger): Promise<BackboneSpec> {
  const spec = configuredBackbone(config, await chooseBackbone(config, store, log));
  if (spec.id === "vgg16" && spec.weights.kind === "random") {
    log.warn({ seed: spec.weights.seed }, "VGG16 with RANDOM weights: only for tests and benchmarks; the model will not recognise anyone");
  }
  return spec;
}

/** The backbone a training run on this store uses: chosen (`auto`), announced, and built. */
export async function openConfiguredBackbone(config: FaceopsConfig, store: StoreLayout, log: Logger): Promise<BuiltBackbone> {
  return createBackbone(await configuredBackboneSpec(config, store, log), config, log);
}

/**
 * Rebuilds the backbone a bundle was trained with and proves it is the same one: a different
 * fingerprint would mean different features, and a head trained on other features predicts noise.
 */
export async function backboneForBundle(reference: BackboneReference, config: FaceopsConfig, log: Logger): Promise<Backbone> {
  const { backbone } = await createBackbone(bundleBackbone(reference, config), config, log);
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
