import type { Express } from "express";
import type { ServeConfig } from "../../config/schema.js";
import { listen, type RunningServer } from "../../http/server.js";
import type { Logger } from "../../log.js";

/**
 * A long-running faceops process (`serve`, `up` on either platform) from listening to exit, with
 * one shutdown order for all of them. On SIGTERM (Kubernetes) or SIGINT (Ctrl-C):
 *   1. the server stops accepting connections and lets the requests in flight finish (at most
 *      serve.gracePeriod), so an answer already started still uses everything behind it;
 *   2. the parts behind it stop in the order given: the controller loop (which stops or leaves its
 *      attempts and releases the store lock), then the store follower, then the models and their
 *      worker threads, which the last requests needed;
 *   3. the process exits 0, or 1 when a part failed to stop (each failure is logged).
 * A second signal of the same kind is not caught: Node's default ends the process at once.
 */

/** One part to stop, named for the log should it fail. */
export interface StopStep {
  what: string;
  stop: () => Promise<void>;
}

/** The process' signals and exit: the real `process`, or a fake in tests. */
export interface ProcessControl {
  once(signal: "SIGTERM" | "SIGINT", listener: () => void): unknown;
  exit(code: number): void;
}

export interface LongRunning {
  app: Express;
  /** What listens, as the log says it ("<name> listening"). */
  name: string;
  /** Where to listen, and how long requests in flight may take to finish (serve.gracePeriod). */
  address: Pick<ServeConfig, "port" | "host" | "gracePeriod">;
  log: Logger;
  /** Logged when a signal arrives, before anything stops: what a restart will find. */
  stopping?: string;
  /** Starts what the server fronts (the model follower, the controller loop); when it fails, everything stops again and its error is thrown. */
  start: () => Promise<void>;
  /** What stops after the server, in this order. */
  stops: StopStep[];
}

/** Listens, starts, and returns the running server; the process then runs until SIGTERM or SIGINT. */
export async function runUntilSignal(options: LongRunning, control: ProcessControl = process): Promise<RunningServer> {
  const { log } = options;
  const server = await listen(options.app, {
    name: options.name,
    port: options.address.port,
    host: options.address.host,
    graceMs: options.address.gracePeriod,
    log,
    onClosed: () => stopInOrder(options.stops, log),
  });
  let stopping = false;
  const stop = (signal: "SIGTERM" | "SIGINT") => {
    // SIGINT after SIGTERM (or the reverse) joins the shutdown under way instead of starting another.
    if (stopping) return;
    stopping = true;
    if (options.stopping) log.info({ signal }, options.stopping);
    server.shutdown(signal).then(
      () => control.exit(0),
      (error: unknown) => {
        log.error({ err: error, signal }, "shutting down failed");
        control.exit(1);
      },
    );
  };
  control.once("SIGTERM", () => stop("SIGTERM"));
  control.once("SIGINT", () => stop("SIGINT"));
  try {
    await options.start();
  } catch (error) {
    await server.shutdown("start-up failed").catch((failure: unknown) => log.error({ err: failure }, "stopping after the failed start-up failed too"));
    throw error;
  }
  return server;
}

/** Every step runs, even after one failed, so one part that cannot stop does not leave the others running. */
async function stopInOrder(steps: StopStep[], log: Logger): Promise<void> {
  const failed: string[] = [];
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step.stop();
    } catch (error) {
      log.error({ err: error, part: step.what }, "a part failed to stop; stopping the others");
      failed.push(step.what);
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, `${failed.join(", ")} failed to stop`);
}
