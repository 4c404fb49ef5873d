import { runAttempt } from "../../controller/attempt.js";
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
  return runAttempt({ runId: options.run, attempt, config: context.loaded.config, store: context.store, log: context.log, env: context.env, credentials: gitCredentials(context) });
}
