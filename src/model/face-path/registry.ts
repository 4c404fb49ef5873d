import type { Logger } from "../../log.js";
import { FacePathWorkers, type FacePathWorkersOptions } from "./workers.js";

/**
 * The face-path worker pools of an inference service, shared by the model versions it loads. A
 * new version of a repository nearly always has the same engine, detector and backbone as the one
 * it replaces; only its head, references and crop's median box differ, and those live on the main
 * thread or travel with each task. Starting a pool (TensorFlow.js, the detector with landmarks and
 * the embedding network, in every thread, each warmed up) took most of a rollout's 5 to 11 s;
 * sharing it makes a hot swap cost the bundle's own loading.
 *
 *   const registry = facePathRegistry(log);
 *   const lease = await registry.acquire({ size: 2, maxPixels, detector: { landmarks: true }, embedding, tfEngine: undefined });
 *   await lease.workers.prepare(bytes, { crop, inputSize });
 *   await lease.release();   // the last lease of a pool ends its threads
 *   await registry.close();  // at shutdown: ends whatever is left
 *
 * Pools are keyed by everything a worker loads (`facePathKey`). Leases are counted: a predictor
 * takes one when it loads and gives it back when it is disposed. A hot swap to a version with the
 * same key keeps the threads, because the new predictor acquires before the old one is retired; a
 * swap to another backbone ends the old pool once the old model's last request has finished (the
 * slot disposes it then, see serve/model-slot.ts). A pool whose every worker died beyond
 * replacement is not handed out again: the next acquire starts a fresh one.
 */

/** What a pool loads; every field is part of its key. */
export type FacePathLoad = Omit<FacePathWorkersOptions, "log">;

/** The part of FacePathWorkers the registry itself needs: whether it still runs, and how to end it. */
export interface RegisteredPool {
  readonly alive: number;
  dispose(): Promise<void>;
}

export interface FacePathLease<Pool = FacePathWorkers> {
  readonly workers: Pool;
  /** Gives the lease back; the pool's last one ends its threads. A second call does nothing. A plain function: it can be passed on alone. */
  readonly release: () => Promise<void>;
}

export interface FacePathRegistryOptions<Pool extends RegisteredPool> {
  log: Logger;
  /** Starts a pool: FacePathWorkers.start (see `facePathRegistry`), or a test's own. */
  start: (options: FacePathWorkersOptions) => Promise<Pool>;
}

interface Shared<Pool> {
  key: string;
  starting: Promise<Pool>;
  /** The pool once started, so that whether it still runs can be asked without waiting. */
  started: Pool | null;
  leases: number;
}

/** The registry was closed (the service is stopping): no pool is started or handed out any more. */
export class FacePathRegistryClosedError extends Error {
  override readonly name = "FacePathRegistryClosedError";
}

/**
 * The key of what a pool loads: two loads with the same key start identical threads. Fields are
 * written in a fixed order with their defaults filled in, so that an absent option and its default
 * share a pool.
 */
export function facePathKey(load: FacePathLoad): string {
  const { embedding } = load;
  return JSON.stringify({
    size: load.size,
    tfEngine: load.tfEngine ?? null,
    maxPixels: load.maxPixels,
    detector: load.detector ? { landmarks: load.detector.landmarks } : null,
    embedding: embedding
      ? { batchSize: embedding.batchSize ?? null, mirror: embedding.mirror ?? false, engine: embedding.engine ?? null, intraOpThreads: embedding.intraOpThreads ?? null }
      : null,
  });
}

/** The registry of a service: real face-path worker pools. */
export function facePathRegistry(log: Logger): FacePathRegistry<FacePathWorkers> {
  return new FacePathRegistry({ log, start: (options) => FacePathWorkers.start(options) });
}

export class FacePathRegistry<Pool extends RegisteredPool> {
  /** The pool handed out for each key; a broken one leaves this map but lives on until its leases are back. */
  private readonly current = new Map<string, Shared<Pool>>();
  /** Every pool not yet ended, handed out or not, so that close() ends them all. */
  private readonly open = new Set<Shared<Pool>>();
  private closed = false;
  private startCount = 0;

  constructor(private readonly options: FacePathRegistryOptions<Pool>) {}

  /** Pools started so far, also ended ones (tests check a hot swap starts none). */
  get starts(): number {
    return this.startCount;
  }

  /** Pools running or starting now. */
  get pools(): number {
    return this.open.size;
  }

  /**
   * A lease on a pool that loads `load`: the running one with the same key, else a new one (its
   * start shared by every caller that asks meanwhile). A pool that cannot start is forgotten, and
   * every caller waiting for it gets its error; the next acquire tries again.
   */
  async acquire(load: FacePathLoad): Promise<FacePathLease<Pool>> {
    if (this.closed) throw new FacePathRegistryClosedError("the face-path workers are shut down; no model can be loaded any more");
    const key = facePathKey(load);
    // Looked up and counted without waiting in between, so no release can end the pool meanwhile.
    let shared = this.current.get(key);
    if (shared?.started && shared.started.alive === 0) {
      this.options.log.warn({ key }, "the shared face-path workers have all stopped; starting new ones for the next model");
      this.current.delete(key);
      shared = undefined;
    }
    if (shared) this.options.log.info({ workers: load.size, models: shared.leases + 1 }, "the model shares the running face-path workers");
    shared ??= this.startShared(key, load);
    shared.leases++;
    let workers: Pool;
    try {
      workers = await shared.starting;
    } catch (error) {
      shared.leases--;
      throw error;
    }
    if (!this.open.has(shared)) {
      // close() ended the pool while it was starting.
      throw new FacePathRegistryClosedError("the face-path workers were shut down while they started; no model can be loaded any more");
    }
    let released = false;
    const lease = shared;
    return {
      workers,
      release: async () => {
        if (released) return;
        released = true;
        lease.leases--;
        if (lease.leases === 0) await this.end(lease);
      },
    };
  }

  /**
   * Ends every pool, leased or not, and refuses later acquires; for shutdown, once the models
   * holding leases have been disposed (a lease given back afterwards does nothing more).
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.open].map((shared) => this.end(shared)));
  }

  private startShared(key: string, load: FacePathLoad): Shared<Pool> {
    this.startCount++;
    const shared: Shared<Pool> = { key, starting: this.options.start({ ...load, log: this.options.log }), started: null, leases: 0 };
    this.current.set(key, shared);
    this.open.add(shared);
    void shared.starting.then(
      (pool) => {
        shared.started = pool;
      },
      // A pool that cannot start is not kept: the next acquire starts another (the start itself ended its threads).
      () => {
        this.open.delete(shared);
        if (this.current.get(key) === shared) this.current.delete(key);
      },
    );
    return shared;
  }

  private async end(shared: Shared<Pool>): Promise<void> {
    if (!this.open.delete(shared)) return;
    if (this.current.get(shared.key) === shared) this.current.delete(shared.key);
    const pool = await shared.starting.catch(() => null);
    try {
      await pool?.dispose();
    } catch (error) {
      this.options.log.warn({ err: error }, "ending face-path workers no model uses any more failed");
    }
  }
}
