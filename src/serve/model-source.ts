import { watch, type FSWatcher } from "node:fs";
import { mkdir } from "node:fs/promises";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { ServeMetrics } from "../metrics/serve-metrics.js";
import { defaultModelName } from "../model/bundle.js";
import type { FacePathRegistry } from "../model/face-path/registry.js";
import type { FacePathWorkers } from "../model/face-path/workers.js";
import { Predictor } from "../model/predictor.js";
import type { StoreLayout } from "../store/layout.js";
import { readCurrentModel } from "../store/models.js";
import { createRgbImage } from "../vision/image.js";
import type { ModelSlot } from "./model-slot.js";

/**
 * Where the served model comes from: one bundle (`--model`), or the store's current-version
 * pointer (`--store`), followed with a file watch plus a periodic check (watches miss events on
 * network file systems such as a PVC). A new version is loaded completely, its checksums verified,
 * its face-path workers found (`workers`: the server's decode concurrency; with `facePaths`, the
 * pool the serving version already uses when the new one loads the same nets, else new threads)
 * and warmed with one inference before it is swapped in; one that fails keeps the old one serving,
 * and ends the threads it had started.
 */

/**
 * What loading a model needs; `workers` and `facePaths` as in PredictorOptions (workers 0 or absent:
 * the face path on this thread; no facePaths: each model starts its own workers).
 */
export interface LoadOptions {
  config: FaceopsConfig;
  log: Logger;
  workers?: number;
  facePaths?: FacePathRegistry<FacePathWorkers>;
}

export async function loadPredictor(directory: string, options: LoadOptions): Promise<Predictor> {
  const predictor = await Predictor.load(directory, options);
  try {
    // One inference on a grey square, so the first real request does not pay for lazy initialisation.
    const size = predictor.metadata.backbone.inputSize;
    await predictor.scores([createRgbImage(size, size, new Uint8Array(size * size * 3).fill(128))]);
    return predictor;
  } catch (error) {
    await predictor.dispose();
    throw error;
  }
}

export async function serveBundle(directory: string, version: string, deps: LoadOptions & { slot: ModelSlot; metrics: ServeMetrics }): Promise<void> {
  try {
    deps.slot.install(await loadPredictor(directory, deps), version);
  } catch (error) {
    deps.metrics.modelLoadFailures.inc({ model_name: deps.slot.model?.name ?? defaultModelName });
    throw error;
  }
}

export interface StoreFollowerOptions extends LoadOptions {
  store: StoreLayout;
  slot: ModelSlot;
  metrics: ServeMetrics;
  /** How often to re-read the pointer even without a file event. */
  checkIntervalMs: number;
}

export class StoreFollower {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  /** A version that failed to load is not retried until the pointer changes again. */
  private failed: { version: string; promotedAt: string } | null = null;
  private stopped = false;

  constructor(private readonly options: StoreFollowerOptions) {}

  async start(): Promise<void> {
    await mkdir(this.options.store.models, { recursive: true });
    this.watcher = watch(this.options.store.models, () => void this.check());
    this.watcher.on("error", (error) => this.options.log.warn({ err: error }, "watching the model pointer failed; periodic checks continue"));
    this.timer = setInterval(() => void this.check(), this.options.checkIntervalMs);
    this.timer.unref();
    await this.check();
  }

  /** Re-reads the pointer; concurrent calls coalesce into one check plus at most one more. */
  check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.follow()
      .catch((error: unknown) => this.options.log.error({ err: error }, "checking the model pointer failed"))
      .finally(() => {
        this.checking = null;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.check();
        }
      });
    return this.checking;
  }

  private async follow(): Promise<void> {
    const { store, slot, metrics, log } = this.options;
    const current = await readCurrentModel(store);
    if (!current || this.stopped) return;
    if (slot.model?.version === current.version) return;
    if (this.failed?.version === current.version && this.failed.promotedAt === current.promotedAt) return;
    log.info({ version: current.version, serving: slot.model?.version ?? null }, "loading the new model version");
    try {
      const predictor = await loadPredictor(store.modelVersion(current.version), this.options);
      if (this.stopped) {
        await predictor.dispose();
        return;
      }
      slot.install(predictor, current.version);
      this.failed = null;
    } catch (error) {
      this.failed = { version: current.version, promotedAt: current.promotedAt };
      metrics.modelLoadFailures.inc({ model_name: slot.model?.name ?? defaultModelName });
      log.error({ err: error, version: current.version, serving: slot.model?.version ?? null }, "the new model version failed to load; the previous one keeps serving");
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.checking;
  }
}
