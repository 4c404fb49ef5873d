import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { pino, type Logger } from "pino";
import { serialiseError, type TaskMap, type TaskMessage, type WorkerData, type WorkerReply } from "./messages.js";

/**
 * The worker's side of a pool (pool.ts): a worker module calls `hostTasks` once, at its top level,
 * with a setup function that loads what the tasks need and returns one handler per task kind.
 *
 *   hostTasks<Init, Info, Tasks>(async (init, log) => {
 *     const net = await load(init);
 *     return { info: { engine: net.engine }, handlers: { run: async (request) => ({ result: await net.run(request) }) } };
 *   });
 *
 * The pool sends one task at a time, so handlers never run concurrently. A handler's error goes
 * back to the caller as data (messages.ts) and the worker carries on; an error outside a handler
 * ends the worker, and the pool replaces it.
 */

/** A handler's answer: the result, and the buffers in it to move rather than copy. */
export interface TaskReply<R> {
  result: R;
  transfer?: ArrayBuffer[];
}

export type TaskHandlers<Tasks extends TaskMap> = { [K in keyof Tasks]: (request: Tasks[K]["request"]) => Promise<TaskReply<Tasks[K]["result"]>> };

export interface HostedWorker<Info, Tasks extends TaskMap> {
  /** What the worker loaded, sent to the pool once (e.g. which engine it runs on). */
  info: Info;
  handlers: TaskHandlers<Tasks>;
}

export function hostTasks<Init, Info, Tasks extends TaskMap>(setup: (init: Init, log: Logger) => Promise<HostedWorker<Info, Tasks>>): void {
  if (isMainThread || !parentPort) throw new Error("hostTasks runs inside a worker thread started by a WorkerPool");
  const port = parentPort;
  const data = workerData as WorkerData<Init>;
  const post = (reply: WorkerReply<Info>, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
  // Log lines travel to the main thread, whose logger writes them with the worker's number.
  const log = pino({ level: data.logLevel, base: null, timestamp: false }, { write: (line: string) => post({ type: "log", line }) });
  setup(data.init, log).then(
    ({ info, handlers }) => {
      port.on("message", (message: TaskMessage<Tasks>) => void runTask(handlers, message, post));
      post({ type: "ready", info });
    },
    (error: unknown) => post({ type: "init-failed", error: serialiseError(error) }),
  );
}

async function runTask<Info, Tasks extends TaskMap>(handlers: TaskHandlers<Tasks>, message: TaskMessage<Tasks>, post: (reply: WorkerReply<Info>, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const handler = Object.hasOwn(handlers, message.kind) ? handlers[message.kind] : undefined;
  try {
    if (!handler) throw new TypeError(`this worker runs no "${message.kind}" tasks`);
    const reply = await handler(message.request);
    post({ type: "done", id: message.id, result: reply.result }, reply.transfer);
  } catch (error) {
    post({ type: "failed", id: message.id, error: serialiseError(error) });
  }
}
