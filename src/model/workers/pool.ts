import { Worker } from "node:worker_threads";
import type { Logger } from "../../log.js";
import { reviveError, type ErrorRevivers, type SerialisedError, type TaskMap, type WorkerData, type WorkerReply } from "./messages.js";

/**
 * A fixed number of worker threads that run one kind of task module (see task-host.ts), so that
 * CPU-heavy work (decoding, neural networks) never blocks the main thread's event loop. The same
 * pattern as the onnxruntime thread of the VGG16 engine, generalised: any number of threads, typed
 * tasks, errors that come back as the caller's own classes.
 *
 *   const pool = await WorkerPool.start<Init, Info, Tasks>({ name: "face-path", entry, size: 2, init, log });
 *   const result = await pool.run("embed", request, [request.pixels.buffer]);
 *   await pool.terminate();
 *
 * - Tasks are served in arrival order, one at a time per worker, by whichever worker is free.
 * - A worker that dies (an uncaught error, out of memory, process.exit in the thread) fails the
 *   task it was running with WorkerExitedError and is replaced; the tasks waiting are not lost. A
 *   replacement that cannot start leaves its place empty; when no worker is left, every waiting
 *   and later task fails with WorkerPoolBrokenError. Nothing ever waits forever on a dead thread.
 * - terminate() fails what is waiting with WorkerPoolClosedError and ends every thread, each once
 *   its running task has returned (a native engine must not be cut off mid-run).
 */

export interface WorkerPoolOptions<Init> {
  /** What the workers do, in messages and logs: e.g. "face-path". */
  name: string;
  /** The worker module (it calls hostTasks), as a file URL: .js when built, .ts from the sources. */
  entry: URL;
  size: number;
  /** Handed to the worker module's setup, identical for every worker (structured-cloned). */
  init: Init;
  log: Logger;
  /** The error classes callers tell apart, rebuilt on this side (messages.ts). */
  revivers?: ErrorRevivers;
  /** Told once per worker that became ready, replacements included, with what it loaded. */
  onReady?: (worker: number, info: unknown) => void;
  /**
   * The most each worker's young generation (V8's new space) may grow to, in MB; V8's default
   * when absent. A worker with a small live heap and a high allocation rate wants it small: V8
   * starts a full (marking) collection whenever the old generation's room left is below the new
   * space's capacity, and a new space grown to its default maximum is larger than the room a small
   * heap is given, so such a worker marks its whole heap several times a second (see
   * face-path/workers.ts for what it cost there).
   */
  youngGenerationMb?: number;
}

/** The worker running a task stopped before answering it. */
export class WorkerExitedError extends Error {
  override readonly name = "WorkerExitedError";
}

/** No worker of the pool is left to run tasks. */
export class WorkerPoolBrokenError extends Error {
  override readonly name = "WorkerPoolBrokenError";
}

/** The pool was terminated before the task ran or finished. */
export class WorkerPoolClosedError extends Error {
  override readonly name = "WorkerPoolClosedError";
}

interface Task {
  id: number;
  kind: string;
  request: unknown;
  transfer: readonly ArrayBuffer[];
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

interface Place {
  index: number;
  worker: Worker | null;
  state: "starting" | "idle" | "busy" | "empty";
  task: Task | null;
  /** The last uncaught error of the thread, to explain its exit. */
  lastError: Error | null;
}

/*
 * A worker is started from a few lines of CommonJS run with `eval`, which import the worker module
 * by URL. Built, that module is .js and loads as is. From the TypeScript sources (tests, benchmarks,
 * `tsx src/cli/main.ts`) Node 20 does not hand the main thread's --import hooks to worker threads,
 * so when the import fails on the .ts extension the bootstrap registers tsx's loader in the thread
 * (resolved from the main thread, where it is certainly installed) and imports again, under a
 * new URL because the loader remembers the failed one. Where the
 * hooks are inherited (newer Node), the first import just works.
 */
const bootstrapSource = `
"use strict";
const { workerData } = require("node:worker_threads");
import(workerData.entry).catch(async (error) => {
  if (!(error && error.code === "ERR_UNKNOWN_FILE_EXTENSION" && workerData.typescriptLoader)) throw error;
  const { register } = await import(workerData.typescriptLoader);
  register();
  // A new URL: the loader keeps the failed import of the first one.
  await import(workerData.entry + "?typescript");
});
`;

/** Threads of every pool in this process that have started and not yet exited. */
const running = new Set<number>();

/**
 * How many pool threads of this process are running: 0 once every pool is terminated (tests of
 * model swaps and shutdown check that no thread is left behind).
 */
export function runningWorkerThreads(): number {
  return running.size;
}

export class WorkerPool<Init, Info, Tasks extends TaskMap> {
  private readonly places: Place[];
  private readonly queue: Task[] = [];
  private nextId = 0;
  private closed: Error | null = null;
  private broken: Error | null = null;
  private readonly typescriptLoader: string | undefined;
  private readonly threadIdsStarted: number[] = [];
  private firstInfo: Info | undefined;

  private constructor(private readonly options: WorkerPoolOptions<Init>) {
    this.places = Array.from({ length: options.size }, (_, index) => ({ index, worker: null, state: "empty", task: null, lastError: null }));
    this.typescriptLoader = options.entry.pathname.endsWith(".ts") ? import.meta.resolve("tsx/esm/api") : undefined;
  }

  /**
   * Starts `size` workers and resolves once every one is ready; if any cannot start, all are
   * terminated and its error (revived) is thrown.
   */
  static async start<Init, Info, Tasks extends TaskMap>(options: WorkerPoolOptions<Init>): Promise<WorkerPool<Init, Info, Tasks>> {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 256) {
      throw new RangeError(`a ${options.name} worker pool needs 1..256 workers, received ${String(options.size)}`);
    }
    if (options.youngGenerationMb !== undefined && !(options.youngGenerationMb >= 1 && options.youngGenerationMb <= 1024)) {
      throw new RangeError(`a ${options.name} worker pool's young generation takes 1..1024 MB, received ${String(options.youngGenerationMb)}`);
    }
    const pool = new WorkerPool<Init, Info, Tasks>(options);
    const started = await Promise.allSettled(pool.places.map((place) => pool.startWorker(place)));
    const failure = started.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
    if (failure) {
      await pool.terminate();
      throw failure.reason;
    }
    pool.firstInfo = (started[0] as PromiseFulfilledResult<Info>).value;
    return pool;
  }

  /** What the first worker reported when it became ready (every worker is started alike). */
  get info(): Info {
    return this.firstInfo as Info;
  }

  get size(): number {
    return this.places.length;
  }

  /** Workers running or ready to run tasks (replacements still starting included). */
  get alive(): number {
    return this.places.filter((place) => place.state !== "empty").length;
  }

  /** Tasks waiting for a free worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** The thread id of every worker ever started, replacements included (tests check they are all gone). */
  get threadIds(): readonly number[] {
    return this.threadIdsStarted;
  }

  /**
   * Runs one task on the first free worker. The buffers in `transfer` are moved to it (detached
   * here) when the task is sent.
   */
  run<K extends keyof Tasks & string>(kind: K, request: Tasks[K]["request"], transfer: readonly ArrayBuffer[] = []): Promise<Tasks[K]["result"]> {
    const refusal = this.closed ?? this.broken;
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, kind, request, transfer, resolve: resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Fails what waits or runs, and ends every thread; later calls do nothing more. The callers of
   * running tasks are answered at once, but a thread in the middle of a task is ended only once
   * that task has returned (or after terminateGraceMs): onnxruntime aborts the whole process
   * ("terminate called after throwing an instance of 'Napi::Error'", exit 134) when the thread
   * running one of its sessions is terminated mid-run, which a service shutting down under load did.
   */
  async terminate(): Promise<void> {
    this.closed ??= new WorkerPoolClosedError(`the ${this.options.name} workers were shut down`);
    this.failWaiting(this.closed);
    const workers: Array<{ worker: Worker; busy: boolean }> = [];
    for (const place of this.places) {
      place.task?.reject(this.closed);
      place.task = null;
      if (place.worker) workers.push({ worker: place.worker, busy: place.state === "busy" });
      place.worker = null;
      place.state = "empty";
    }
    await Promise.all(
      workers.map(async ({ worker, busy }) => {
        if (busy) await taskReturned(worker, terminateGraceMs);
        await worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    for (const place of this.places) {
      if (this.queue.length === 0) return;
      if (place.state !== "idle" || !place.worker) continue;
      const task = this.queue.shift() as Task;
      place.state = "busy";
      place.task = task;
      try {
        place.worker.postMessage({ type: "task", id: task.id, kind: task.kind, request: task.request }, task.transfer);
      } catch (error) {
        // A request that cannot be cloned is the caller's error; the worker is untouched.
        place.state = "idle";
        place.task = null;
        task.reject(new TypeError(`cannot send a ${task.kind} task to the ${this.options.name} workers: ${(error as Error).message}`, { cause: error }));
      }
    }
  }

  /** Starts the worker of one place; resolves with what it loaded once it is ready. */
  private startWorker(place: Place): Promise<Info> {
    const { name, entry, init, log } = this.options;
    const workerData: WorkerData<Init> & { typescriptLoader?: string } = { entry: entry.href, init, logLevel: log.level, typescriptLoader: this.typescriptLoader };
    const resourceLimits = this.options.youngGenerationMb === undefined ? undefined : { maxYoungGenerationSizeMb: this.options.youngGenerationMb };
    const worker = new Worker(bootstrapSource, { eval: true, workerData, resourceLimits });
    place.worker = worker;
    place.state = "starting";
    place.lastError = null;
    // Read now: a worker that has stopped reports -1.
    const threadId = worker.threadId;
    this.threadIdsStarted.push(threadId);
    running.add(threadId);
    const workerLog = log.child({ worker: place.index });
    return new Promise<Info>((resolve, reject) => {
      let ready = false;
      worker.on("message", (reply: WorkerReply<Info>) => {
        switch (reply.type) {
          case "log":
            relayLog(workerLog, reply.line);
            return;
          case "ready":
            ready = true;
            place.state = "idle";
            this.options.onReady?.(place.index, reply.info);
            resolve(reply.info);
            this.dispatch();
            return;
          case "init-failed":
            reject(this.revive(reply.error));
            void worker.terminate();
            return;
          case "done":
          case "failed":
            this.settle(place, reply);
            return;
        }
      });
      worker.on("error", (error) => {
        place.lastError = error;
      });
      worker.on("exit", (code) => {
        running.delete(threadId);
        if (place.worker !== worker) return;
        place.worker = null;
        place.state = "empty";
        if (this.closed) return;
        const why = place.lastError ? `${place.lastError.message}` : `exit code ${code}`;
        if (!ready) {
          reject(new WorkerExitedError(`the ${name} worker ${place.index} stopped before it was ready (${why})`, { cause: place.lastError ?? undefined }));
          this.placeLost(why);
          return;
        }
        const task = place.task;
        place.task = null;
        if (task) task.reject(new WorkerExitedError(`the ${name} worker ${place.index} stopped (${why}) while running a ${task.kind} task; the task was not completed`, { cause: place.lastError ?? undefined }));
        log.error({ worker: place.index, err: place.lastError ?? undefined, code, task: task?.kind ?? null }, `a ${name} worker stopped; starting a replacement`);
        this.startWorker(place).catch((error: unknown) => log.error({ worker: place.index, err: error }, `the replacement ${name} worker could not start`));
      });
    });
  }

  /** A place whose worker could not start stays empty; with no worker left, the pool is broken. */
  private placeLost(why: string): void {
    if (this.places.some((place) => place.state !== "empty")) return;
    this.broken ??= new WorkerPoolBrokenError(`no ${this.options.name} worker is left (the last one stopped: ${why})`);
    this.failWaiting(this.broken);
  }

  private settle(place: Place, reply: { type: "done"; id: number; result: unknown } | { type: "failed"; id: number; error: SerialisedError }): void {
    const task = place.task;
    if (!task || task.id !== reply.id) return;
    place.task = null;
    place.state = "idle";
    if (reply.type === "done") task.resolve(reply.result);
    else task.reject(this.revive(reply.error));
    this.dispatch();
  }

  private failWaiting(error: Error): void {
    for (const task of this.queue.splice(0)) task.reject(error);
  }

  private revive(error: SerialisedError): Error {
    return reviveError(error, this.options.revivers);
  }
}

/** The longest a terminating pool waits for a running task to return before ending its thread anyway. */
export const terminateGraceMs = 10_000;

/** Resolves when the worker answers its running task, exits, or `graceMs` pass. */
function taskReturned(worker: Worker, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("exit", finish);
      resolve();
    };
    const onMessage = (reply: WorkerReply) => {
      if (reply.type === "done" || reply.type === "failed") finish();
    };
    const timer = setTimeout(finish, graceMs);
    worker.on("message", onMessage);
    worker.once("exit", finish);
  });
}

/** Writes a line of a worker's pino logger through the main thread's logger, at its level. */
function relayLog(log: Logger, line: string): void {
  try {
    const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
    const label = log.levels.labels[level] as "fatal" | "error" | "warn" | "info" | "debug" | "trace" | undefined;
    if (label) log[label](fields, msg);
  } catch {
    log.warn({ line }, "a worker wrote a log line that is not JSON");
  }
}
