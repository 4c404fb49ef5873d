import type * as tfjs from "@tensorflow/tfjs";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { StoreLayout } from "../store/layout.js";
import { openConfiguredBackbone, type BuiltBackbone } from "./backbone-factory.js";
import type { Backbone } from "./backbones/types.js";
import type { FaceDetector } from "./face/detector.js";
import { configuredFacePlanner } from "./face-planner.js";
import { simpleCropPlanner, type CropPlanner } from "./features.js";
import { loadTf, type TfEngine } from "./tfjs-engine.js";

/**
 * Everything a training run needs besides data, built from the configuration: TensorFlow.js for
 * the head, the backbone (chosen, loaded and announced), and the crop planner.
 */

export interface TrainingRuntime {
  tf: typeof tfjs;
  tfEngine: TfEngine;
  backbone: Backbone;
  backboneReference: BuiltBackbone["reference"];
  planner: CropPlanner;
  dispose(): Promise<void>;
}

export async function openTrainingRuntime(options: { config: FaceopsConfig; store: StoreLayout; log: Logger }): Promise<TrainingRuntime> {
  const { config, store, log } = options;
  const tfEngine = config.engine.name.startsWith("tfjs-") ? (config.engine.name as TfEngine) : undefined;
  const { tf, engine, skipped } = await loadTf(tfEngine);
  log.info({ engine, skipped }, "TensorFlow.js engine");
  const { backbone, reference } = await openConfiguredBackbone(config, store, log);
  let detector: FaceDetector | null = null;
  let planner: CropPlanner;
  try {
    if (config.model.crop === "face") {
      ({ detector, planner } = await configuredFacePlanner({ config, store, log }));
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
    backboneReference: reference,
    planner,
    dispose: async () => {
      await detector?.dispose();
      await backbone.dispose();
    },
  };
}
