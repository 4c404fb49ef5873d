import type * as tfjs from "@tensorflow/tfjs";
import { resolveEngineWorkers, type FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { StoreLayout } from "../store/layout.js";
import { configuredBackboneSpec, createBackbone, faceEmbeddingReference, type BuiltBackbone } from "./backbone-factory.js";
import type { Backbone } from "./backbones/types.js";
import { defaultCropPolicy } from "./face/crop.js";
import type { FaceDetector } from "./face/detector.js";
import { facePathEmbedding, FacePathWorkers } from "./face-path/workers.js";
import { configuredFacePlanner, defaultPolicyNeedsLandmarks, workerFaceFinder } from "./face-planner.js";
import { simpleCropPlanner, type CropPlanner } from "./features.js";
import { loadTf, type TfEngine } from "./tfjs-engine.js";

/**
 * Everything a training run needs besides data, built from the configuration: TensorFlow.js for
 * the head, the backbone (chosen, loaded and announced), and the crop planner.
 *
 * The face path runs in engine.workers worker threads (face-path/workers.ts) when there is face
 * work: with face crops, the workers find the faces (decoding each photo themselves), and with the
 * face-embedding backbone (plain or mirrored) they embed the crops, one batch per worker at a time.
 * VGG16 keeps its own onnxruntime thread and faceres runs here; only detection uses the pool then.
 * With engine.workers 0 everything runs on this thread, with the same results (the same functions
 * on the same decoded pixels), so the box and feature caches are shared by both ways.
 */

export interface TrainingRuntime {
  tf: typeof tfjs;
  tfEngine: TfEngine;
  backbone: Backbone;
  backboneReference: BuiltBackbone["reference"];
  planner: CropPlanner;
  /** Face-path worker threads running for this run (0: the face path runs on this thread). */
  workers: number;
  /** Ends the workers and frees the nets; the caller runs it also when training fails. */
  dispose(): Promise<void>;
}

export async function openTrainingRuntime(options: { config: FaceopsConfig; store: StoreLayout; log: Logger }): Promise<TrainingRuntime> {
  const { config, store, log } = options;
  const tfEngine = config.engine.name.startsWith("tfjs-") ? (config.engine.name as TfEngine) : undefined;
  const { tf, engine, skipped } = await loadTf(tfEngine);
  log.info({ engine, skipped }, "TensorFlow.js engine");
  const spec = await configuredBackboneSpec(config, store, log);
  const crop = config.model.crop;
  const faceCrop = crop === "face";
  const workerCount = resolveEngineWorkers(config.engine.workers);
  const embedding = workerCount > 0 ? facePathEmbedding(spec.id, config.model.batchSize) : null;
  // Everything built so far is disposed, in reverse, if a later step fails.
  const built: Array<{ dispose(): Promise<void> }> = [];
  try {
    let workers: FacePathWorkers | null = null;
    if (workerCount > 0 && (faceCrop || embedding)) {
      workers = await FacePathWorkers.start({
        size: workerCount,
        tfEngine,
        maxPixels: config.dataset.maxPixels,
        detector: faceCrop ? { landmarks: defaultPolicyNeedsLandmarks } : null,
        embedding,
        log,
      });
      built.push(workers);
    }
    let backbone: Backbone;
    let reference: BuiltBackbone["reference"];
    if (workers?.backbone && (spec.id === "face-embedding" || spec.id === "face-embedding-mirrored")) {
      backbone = workers.backbone;
      reference = faceEmbeddingReference(spec.id);
    } else {
      ({ backbone, reference } = await createBackbone(spec, config, log));
      built.push(backbone);
    }
    let detector: FaceDetector | null = null;
    let planner: CropPlanner;
    if (crop === "face") {
      const finder = workers ? workerFaceFinder(workers, { policy: defaultCropPolicy, maxPixels: config.dataset.maxPixels }) : undefined;
      ({ detector, planner } = await configuredFacePlanner({ config, store, log, finder }));
      if (detector) built.push(detector);
    } else {
      planner = simpleCropPlanner(crop);
    }
    const threads = workers?.size ?? 0;
    log.info({ backbone: backbone.id, engine: backbone.engine, fingerprint: backbone.fingerprint, crop: config.model.crop, workers: threads }, "model runtime ready");
    return {
      tf,
      tfEngine: engine,
      backbone,
      backboneReference: reference,
      planner,
      workers: threads,
      dispose: () => disposeAll(built, log),
    };
  } catch (error) {
    await disposeAll(built, log);
    throw error;
  }
}

/** Disposes in reverse order of building; a part that fails to dispose does not keep the others alive. */
async function disposeAll(parts: Array<{ dispose(): Promise<void> }>, log: Logger): Promise<void> {
  for (const part of parts.splice(0).reverse()) {
    await part.dispose().catch((error: unknown) => log.warn({ err: error }, "freeing part of the training runtime failed"));
  }
}
