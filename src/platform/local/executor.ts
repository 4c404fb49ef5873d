import { spawn } from "node:child_process";
import { mkdir, open, rm } from "node:fs/promises";
import type { AttemptResult } from "../../records/attempt-result.js";
import type { AttemptRecord, RunRecord } from "../../records/runs.js";
import type { Logger } from "../../log.js";
import { readJsonOr } from "../../store/files.js";
import type { StoreLayout } from "../../store/layout.js";
import { readLock } from "../../store/lock.js";
import type { AttemptObservation, ProcessRef, TrainingExecutor } from "../types.js";
import { isAlive, processStartTime } from "../../store/process-identity.js";

/**
 * Attempts as child processes on this machine: `faceops attempt --store S --run R --attempt N`, the
 * entry point a Kubernetes Job runs too. Each runs in its own process group with its output in a log
 * file in the store, so it outlives a controller that is killed and is adopted by the next one:
 * the attempt holds a lock file naming its pid and start time, which is how a restarted controller
 * tells a live attempt from a lost one, and why a second process for one attempt stops at once.
 */

export interface LocalExecutorOptions {
  store: StoreLayout;
  /** The faceops program: node, its flags and the main script, followed by global options (config, --set). */
  command: readonly string[];
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Called when a child this executor started exits, so the controller looks at once. */
  onExit?: (runId: string, attempt: number, code: number | null) => void;
  /** Grace between SIGTERM and SIGKILL when stopping an attempt. */
  stopGraceMs?: number;
}

export class LocalExecutor implements TrainingExecutor {
  private readonly children = new Map<string, { pid: number; exited: Promise<void> }>();
  /** Exit codes of children that ended, until the attempt is started again. */
  private readonly exitCodes = new Map<string, number | null>();

  constructor(private readonly options: LocalExecutorOptions) {}

  async launch(runId: string, attempt: number): Promise<ProcessRef | null> {
    const { store, command, env, log } = this.options;
    const paths = store.attempt(runId, attempt);
    await mkdir(paths.folder, { recursive: true });
    // A result left by an earlier execution of this number (one that was lost) must not be read as this one's.
    await rm(paths.result, { force: true });
    const output = await open(paths.log, "a");
    const [program, ...programArgs] = command;
    if (!program) throw new Error("no faceops command to start attempts with");
    const args = [...programArgs, "--log-format", "json", "attempt", "--store", store.root, "--run", runId, "--attempt", String(attempt)];
    try {
      const child = spawn(program, args, { detached: true, stdio: ["ignore", output.fd, output.fd], env, windowsHide: true });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once("spawn", () => resolve(child.pid as number));
        child.once("error", reject);
      });
      const key = `${runId}/${attempt}`;
      this.exitCodes.delete(key);
      const exited = new Promise<void>((resolve) => {
        child.once("exit", (code, signal) => {
          this.children.delete(key);
          this.exitCodes.set(key, code);
          log.info({ run: runId, attempt, pid, code, signal }, "attempt process exited");
          this.options.onExit?.(runId, attempt, code);
          resolve();
        });
      });
      this.children.set(key, { pid, exited });
      child.unref();
      log.info({ run: runId, attempt, pid, log: paths.log }, "attempt started");
      return { pid, startTime: await processStartTime(pid) };
    } finally {
      await output.close();
    }
  }

  async inspect(run: RunRecord, { number: attempt, process: recorded }: AttemptRecord): Promise<AttemptObservation> {
    const runId = run.id;
    const paths = this.options.store.attempt(runId, attempt);
    const result = await readJsonOr<AttemptResult | null>(paths.result, null).catch(() => null);
    const holder = await readLock(paths.lock);
    if (holder && (await isAlive(holder))) return { alive: true, result };
    if (recorded && (await isAlive(recorded))) return { alive: true, result };
    const key = `${runId}/${attempt}`;
    const exitCode = this.exitCodes.has(key) ? this.exitCodes.get(key) : undefined;
    return { alive: holder || recorded ? false : null, result, ...(exitCode !== undefined ? { exitCode } : {}) };
  }

  async stop(runId: string, attempt: number, reason: string): Promise<void> {
    const paths = this.options.store.attempt(runId, attempt);
    const holder = await readLock(paths.lock);
    const child = this.children.get(`${runId}/${attempt}`);
    const pid = holder && (await isAlive(holder)) ? holder.pid : child?.pid;
    if (!pid) return;
    this.options.log.info({ run: runId, attempt, pid, reason }, "stopping attempt");
    signalGroup(pid, "SIGTERM");
    const deadline = Date.now() + (this.options.stopGraceMs ?? 10_000);
    while (Date.now() < deadline && (await isAlive({ pid, startTime: holder?.startTime ?? null }))) await delay(100);
    if (await isAlive({ pid, startTime: holder?.startTime ?? null })) signalGroup(pid, "SIGKILL");
  }

  /** Attempts are this machine's processes: stopping the controller stops them, and the next start re-runs them. */
  readonly attemptsOnShutdown = "stopped";

  /** Stops the attempts this executor started and waits until they have exited. */
  async shutdown(): Promise<void> {
    const running = [...this.children.entries()];
    await Promise.all(running.map(([key]) => {
      const [runId = "", attempt = "0"] = key.split("/");
      return this.stop(runId, Number(attempt), "the controller is shutting down");
    }));
    await Promise.all(running.map(([, child]) => child.exited));
  }
}

/** Signals the attempt's whole process group (it is a group leader), falling back to the process. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
