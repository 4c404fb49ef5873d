import { existsSync } from "node:fs";
import { loadConfig } from "../../config/load.js";
import type { FaceopsConfig } from "../../config/schema.js";
import { runAttempt } from "../../training/attempt.js";
import { gitCredentials, type CommandContext } from "../context.js";

export interface AttemptOptions {
  run: string;
  attempt: string;
}

/** `faceops attempt --store S --run R --attempt N`: one training attempt, as the controller (or a Job) starts it. */
export async function attemptCommand(options: AttemptOptions, context: CommandContext): Promise<number> {
  const attempt = Number(options.attempt);
  if (!/^[0-9]{1,9}$/.test(options.run)) throw new Error(`--run must be a run id (a number), received "${options.run}"`);
  if (!Number.isInteger(attempt) || attempt < 1) throw new Error(`--attempt must be an attempt number (1, 2, ...), received "${options.attempt}"`);
  const shutdown = new AbortController();
  // SIGTERM (a superseded run, a timeout, a Job deleted) ends the process; the lock file goes with it and the controller sees it gone.
  process.once("SIGTERM", () => {
    context.log.warn({ run: options.run, attempt }, "attempt stopped by SIGTERM");
    shutdown.abort();
    process.exit(143);
  });
  return runAttempt({ runId: options.run, attempt, config: await runConfiguration(options.run, context), store: context.store, log: context.log, env: context.env, credentials: gitCredentials(context) });
}

/** The configuration the run was created with (recorded in the store), else this process's own. */
async function runConfiguration(runId: string, context: CommandContext): Promise<FaceopsConfig> {
  const recorded = context.store.runConfig(runId);
  if (!existsSync(recorded)) return context.loaded.config;
  const { config } = await loadConfig({ file: recorded });
  context.log.info({ run: runId, config: recorded }, "training with the run's recorded configuration");
  // The store is wherever this process sees it (a Job mounts it at its own path), and the face
  // path's threads are this machine's: a Job sets FACEOPS_ENGINE_WORKERS from its CPU request.
  return { ...config, store: context.store.root, engine: { ...config.engine, workers: context.loaded.config.engine.workers } };
}
