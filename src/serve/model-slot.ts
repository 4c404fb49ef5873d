import type { Logger } from "../log.js";
import type { ServeMetrics } from "../metrics/serve-metrics.js";
import type { Predictor, Scored } from "../model/predictor.js";
import type { RgbImage } from "../vision/image.js";
import { MicroBatcher } from "./batcher.js";

/**
 * The model in service, swappable under load. A request takes a reference to the current model
 * when it starts and returns it when it ends; a swap replaces the reference atomically, and the old
 * model is disposed only once its last request has finished, so no request ever changes model
 * midway or loses its backbone under it. Disposing a model ends the threads it owns alone (VGG16's
 * onnxruntime thread) and gives back its lease on the face-path workers, which the versions of one
 * backbone share (the last lease ends them, face-path/registry.ts), so a retired model leaves
 * nothing running that no model uses.
 */

export interface ServedModel {
  readonly predictor: Predictor;
  readonly name: string;
  readonly version: string;
  readonly loadedAt: Date;
  readonly batcher: MicroBatcher<RgbImage, Scored>;
}

interface Entry {
  model: ServedModel;
  inFlight: number;
  retired: boolean;
  /** Told when the last request of a retired entry has ended (set while close() waits). */
  drained: (() => void) | null;
}

/**
 * How long close() waits for requests still running before disposing their models under them. The
 * server is closed by then, so these are requests whose clients have gone; each ends within a batch.
 */
export const closeWaitMs = 10_000;

export interface BatchingOptions {
  maxBatch: number;
  maxDelayMs: number;
}

export class ModelSlot {
  private current: Entry | null = null;
  private readonly entries = new Map<ServedModel, Entry>();

  constructor(
    private readonly batching: BatchingOptions,
    private readonly metrics: ServeMetrics,
    private readonly log: Logger,
  ) {}

  get model(): ServedModel | null {
    return this.current?.model ?? null;
  }

  /** The model a new request should use, held until `release`; null when none is loaded yet. */
  acquire(): ServedModel | null {
    if (!this.current) return null;
    this.current.inFlight++;
    return this.current.model;
  }

  release(model: ServedModel): void {
    const entry = this.entries.get(model);
    if (!entry) return;
    entry.inFlight--;
    if (entry.retired && entry.inFlight === 0) {
      if (entry.drained) entry.drained();
      else void this.dispose(entry);
    }
  }

  /** Puts a loaded, verified and warmed predictor in service. */
  install(predictor: Predictor, version: string): ServedModel {
    const name = predictor.metadata.name;
    const batcher = new MicroBatcher<RgbImage, Scored>({
      ...this.batching,
      process: (images) => predictor.scores(images),
      onBatch: (size) => this.metrics.batchSize.observe({ model_name: name }, size),
    });
    const model: ServedModel = { predictor, name, version, loadedAt: new Date(), batcher };
    const entry: Entry = { model, inFlight: 0, retired: false, drained: null };
    this.entries.set(model, entry);
    const previous = this.current;
    this.current = entry;
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set(
      { model_name: name, version, dataset_commit: predictor.metadata.dataset.commit ?? "none", backbone: predictor.metadata.backbone.id },
      1,
    );
    this.metrics.modelLoadedAt.reset();
    this.metrics.modelLoadedAt.set({ model_name: name, version }, model.loadedAt.getTime() / 1000);
    this.log.info({ model: name, version, previous: previous?.model.version ?? null }, "model in service");
    if (previous) {
      previous.retired = true;
      if (previous.inFlight === 0) void this.dispose(previous);
    }
    return model;
  }

  /**
   * Disposes every model, for shutdown behind a closed server: each once its requests still running
   * have ended (clients that left do not end them sooner), or after `waitMs`, when those fail.
   */
  async close(waitMs = closeWaitMs): Promise<void> {
    const entries = [...this.entries.values()];
    this.current = null;
    await Promise.all(entries.map((entry) => this.closeEntry(entry, waitMs)));
  }

  private async closeEntry(entry: Entry, waitMs: number): Promise<void> {
    entry.retired = true;
    if (entry.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((drained) => {
        entry.drained = drained;
        timer = setTimeout(() => {
          this.log.warn({ version: entry.model.version, requests: entry.inFlight }, "requests still running at shutdown; their model is disposed under them");
          drained();
        }, waitMs);
      });
      clearTimeout(timer);
    }
    await this.dispose(entry);
  }

  private async dispose(entry: Entry): Promise<void> {
    if (!this.entries.delete(entry.model)) return;
    try {
      await entry.model.predictor.dispose();
    } catch (error) {
      this.log.warn({ err: error, version: entry.model.version }, "disposing a retired model failed");
    }
  }
}
