import { mkdir, rename, rm, stat } from "node:fs/promises";
import { relative } from "node:path";
import type { Logger } from "../log.js";
import type { ControllerMetrics } from "../metrics/controller-metrics.js";
import { recordRunEvents } from "../metrics/controller-metrics.js";
import type { ModelDeployer, TrainingExecutor } from "../platform/types.js";
import { currentProcessIdentity, type ProcessIdentity } from "../platform/local/process-identity.js";
import type { StoreLayout } from "../store/layout.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import { cleanStaleFiles, removeStaleLock } from "../store/cleanup.js";
import { acquireLock, releaseLock } from "../store/lock.js";
import { nextModelVersion, readCurrentModel, type CurrentModel } from "../store/models.js";
import type { DatasetWatch, WatchedDataset } from "./dataset-watch.js";
import { UnknownRevisionError } from "../dataset/source.js";
import { readBundleMetadata } from "../model/bundle.js";
import { attemptKey, decide, type Action, type AttemptObservation, type ControllerSettings, type DesiredDataset, type Observed, type ObservedRequest } from "./decide.js";
import { isActive, listRuns, readRun, writeRun, type RunRecord } from "./records.js";
import { adoptLegacyRunRequest, listRunRequests, pruneRunRequests, readRunRequest, writeRunRequest } from "./requests.js";

/** store.untrainedSince: when the branch first held photos the model then in service (by its dataset) was not trained on. */
interface UntrainedRecord {
  since: string;
  servedFingerprint: string | null;
}

/** The parts of a bundle's metadata.json the controller's metrics show. */
interface DeployedMetadata {
  dataset?: { commit?: string | null; fingerprint?: string };
  metrics?: { accuracy?: number };
}

/**
 * The control loop: observe the store, the repository and the platform; decide (pure); act; repeat.
 * Every tick starts from what is observed, never from what the last tick remembered, so a
 * controller restarted at any moment carries on where the records say things stand. One controller
 * per store: it holds the store's controller lock while it runs.
 */

export interface ControllerOptions {
  store: StoreLayout;
  watch: DatasetWatch;
  executor: TrainingExecutor;
  deployer: ModelDeployer;
  settings: ControllerSettings;
  metrics: ControllerMetrics;
  log: Logger;
  /** How often the repository is looked at without a webhook or a request. */
  pollIntervalMs: number;
  /** The effective configuration, recorded with each new run so its attempts train with exactly it. */
  runConfig?: unknown;
  /** How often an active run is looked at (attempt finished? rollout confirmed?). */
  activeIntervalMs?: number;
  now?: () => number;
}

export class ControllerBusyError extends Error {
  override readonly name = "ControllerBusyError";
}

export class Controller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private sourceDue: string | null = "startup";
  private lastSourceLook = 0;
  private watched: WatchedDataset | null = null;
  private watchedTrigger = "startup";
  private failures = 0;
  private identity: ProcessIdentity | null = null;
  /** The last error of looking at the repository, for status. */
  lastSourceError: string | null = null;
  private lookedAt: string | null = null;

  constructor(private readonly options: ControllerOptions) {}

  private get now(): number {
    return (this.options.now ?? Date.now)();
  }

  async start(): Promise<void> {
    const { store, log } = this.options;
    this.identity = await currentProcessIdentity();
    const lock = await acquireLock(store.controllerLock, { ...this.identity, acquiredAt: new Date().toISOString() });
    if (!lock.acquired) throw new ControllerBusyError(`another faceops controller (pid ${lock.holder.pid}) is already working on the store ${store.root}`);
    this.stopped = false;
    log.info({ store: store.root, pollIntervalMs: this.options.pollIntervalMs }, "controller started");
    const adopted = await adoptLegacyRunRequest(store);
    if (adopted) log.info({ request: adopted.id, commit: adopted.commit }, "a run request of an older faceops was moved into the request queue");
    await this.cleanStrays();
    await this.tick();
  }

  /**
   * Removes what crashes left in the store: temporary files of atomic writes, takeover claims, and the
   * lock files of attempts that no longer run, each only when its owner is provably gone. It says what
   * it removed, and what it kept because that cannot be proven. A failure here does not stop the
   * controller: strays cost space, not correctness.
   */
  private async cleanStrays(): Promise<void> {
    const { store, log } = this.options;
    try {
      const report = await cleanStaleFiles(store);
      for (const run of await listRuns(store)) {
        for (const attempt of run.attempts) {
          if (isActive(run) && (attempt.state === "running" || attempt.state === "pending")) continue;
          const lock = store.attempt(run.id, attempt.number).lock;
          if (!(await exists(lock))) continue;
          const outcome = await removeStaleLock(lock);
          if (outcome === "removed") report.removed.push(relative(store.root, lock));
          else if (outcome === "unknown") report.kept.push(relative(store.root, lock));
        }
      }
      if (report.removed.length > 0) log.info({ removed: report.removed }, `removed ${report.removed.length} stale temporary or lock file(s) whose owner is gone`);
      if (report.kept.length > 0) log.info({ kept: report.kept }, `kept ${report.kept.length} stray file(s) whose owner cannot be proven gone (another machine or pod, or an older faceops)`);
    } catch (error) {
      log.warn({ err: error }, "cleaning stale temporary and lock files failed; carrying on");
    }
  }

  /**
   * The full commit id `revision` names in the watched repository (fetched first when remote), for
   * the API to check a run request before accepting it. UnknownRevisionError: there is none.
   */
  resolveCommit(revision: string): Promise<string> {
    return this.options.watch.resolve(revision);
  }

  /** Look now: a webhook said the repository changed, or someone asked for a run. Bursts coalesce. */
  kick(trigger: string): void {
    this.sourceDue = trigger;
    void this.tick();
  }

  /** Runs one loop iteration now (or right after the one running), and resolves when it is done. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.iterate().finally(() => {
      this.running = null;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        void this.tick();
      }
    });
    return this.running;
  }

  private async iterate(): Promise<void> {
    let active = false;
    try {
      for (let round = 0; round < 20; round++) {
        const observed = await this.observe();
        active = observed.runs.some(isActive);
        const actions = decide(observed, this.options.settings);
        if (actions.length === 0) break;
        for (const action of actions) await this.act(action);
      }
      this.failures = 0;
    } catch (error) {
      this.failures++;
      this.options.metrics.loopErrors.inc();
      this.options.log.error({ err: error, failures: this.failures }, "controller iteration failed; retrying with backoff");
    }
    this.schedule(active);
  }

  private schedule(active: boolean): void {
    if (this.stopped) return;
    const { pollIntervalMs, activeIntervalMs = 1000 } = this.options;
    const backoff = this.failures > 0 ? Math.min(pollIntervalMs, 1000 * 2 ** Math.min(this.failures, 6)) : Infinity;
    const untilPoll = Math.max(0, this.lastSourceLook + pollIntervalMs - this.now);
    const delay = Math.min(backoff, active ? activeIntervalMs : untilPoll);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  /** What the controller last saw in the repository, for the API and status. */
  get watching() {
    const watched = this.watched;
    return {
      commit: watched?.commit ?? null,
      fingerprint: watched?.fingerprint ?? null,
      usable: watched?.usable ?? null,
      reason: watched?.reason ?? null,
      dataset: watched?.dataset ?? null,
      checkedAt: this.lookedAt,
      error: this.lastSourceError,
    };
  }

  async observe(): Promise<Observed> {
    const { store, executor, deployer, metrics, log } = this.options;
    const runs = await listRuns(store);
    // 1. The watched branch, when it is due: whatever the requests do, new commits are always looked at.
    const due = this.sourceDue !== null || this.now - this.lastSourceLook >= this.options.pollIntervalMs;
    if (due) {
      const trigger = this.sourceDue ?? "poll";
      this.sourceDue = null;
      this.lastSourceLook = this.now;
      try {
        const looked = await this.options.watch.look(null);
        this.lastSourceError = null;
        this.lookedAt = new Date(this.now).toISOString();
        if (looked.fingerprint !== this.watched?.fingerprint) this.watchedTrigger = trigger;
        this.watched = looked;
      } catch (error) {
        this.lastSourceError = (error as Error).message;
        log.warn({ err: error }, "cannot read the watched repository; trying again later");
      }
    }
    // 2. The oldest pending run request: its dataset is the one desired, once it can be looked at.
    const { desired: requested, request } = await this.observeRequest();
    const desired: DesiredDataset | null = requested ?? (this.watched ? { ...this.watched, trigger: this.watchedTrigger, force: false, request: null } : null);
    if (desired) {
      metrics.datasetPhotos.set({ split: "train" }, desired.dataset.train);
      metrics.datasetPhotos.set({ split: "test" }, desired.dataset.test);
      metrics.rejectedFiles.set(desired.dataset.rejected.length);
    }

    const attempts = new Map<string, AttemptObservation>();
    for (const run of runs.filter(isActive)) {
      for (const attempt of run.attempts.filter((entry) => entry.state === "running")) {
        attempts.set(attemptKey(run.id, attempt.number), await executor.inspect(run, attempt));
      }
    }
    const current = await readCurrentModel(store);
    await this.showDeployed(current);
    metrics.activeRuns.set(runs.filter(isActive).length);
    metrics.attemptsPending.set([...attempts.values()].filter((seen) => seen.result === null && typeof seen.detail === "string").length);
    const promoting = runs.find((run) => run.state === "promoting")?.promotion?.version ?? null;
    const rolloutFailure = promoting && deployer.rolloutFailure ? await deployer.rolloutFailure(promoting) : null;
    return { now: this.now, desired, runs, attempts, current, servedVersion: await deployer.servedVersion(), rolloutFailure, request };
  }

  /**
   * The oldest pending run request and, when its commit can be looked at, its dataset. A commit that
   * is not there makes the request unusable (decide records it as failed); any other error leaves it
   * pending, to be looked at again on the next pass, while the branch is watched as usual.
   */
  private async observeRequest(): Promise<{ desired: DesiredDataset | null; request: ObservedRequest | null }> {
    const { store, log } = this.options;
    const pending = (await listRunRequests(store)).find((record) => record.state === "pending");
    if (!pending) return { desired: null, request: null };
    try {
      const looked = await this.options.watch.look(pending.sha ?? pending.commit);
      return { desired: { ...looked, trigger: `api (${pending.by})`, force: pending.force, request: pending.id }, request: { id: pending.id, unusable: null } };
    } catch (error) {
      if (error instanceof UnknownRevisionError) return { desired: null, request: { id: pending.id, unusable: `${error.message}; nothing was run` } };
      this.lastSourceError = (error as Error).message;
      log.warn({ err: error, request: pending.id }, "cannot look at the commit of a run request; trying again later");
      return { desired: null, request: { id: pending.id, unusable: null } };
    }
  }

  private shownVersion: string | null = null;
  private shownFingerprint: string | null = null;
  private untrainedSince: number | null = null;

  /**
   * faceops_deployed_model_* follow the pointer, whoever moved it (a promotion, a rollback, a person);
   * faceops_dataset_untrained_since_timestamp_seconds says how long the watched branch has held data
   * the model in service was not trained on.
   */
  private async showDeployed(current: CurrentModel | null): Promise<void> {
    const { metrics, store } = this.options;
    const version = current?.version ?? null;
    if (version !== this.shownVersion) {
      metrics.deployedModel.reset();
      metrics.deployedModelAccuracy.reset();
      this.shownFingerprint = null;
      if (version) {
        // Read as the service's loader reads it (capped, no link followed): a version folder is not trusted more here.
        const metadata: DeployedMetadata | null = await readBundleMetadata(store.modelVersion(version)).catch(() => null);
        metrics.deployedModel.set({ version, dataset_commit: metadata?.dataset?.commit ?? "none" }, 1);
        if (typeof metadata?.metrics?.accuracy === "number") metrics.deployedModelAccuracy.set(metadata.metrics.accuracy);
        this.shownFingerprint = metadata?.dataset?.fingerprint ?? null;
      }
      this.shownVersion = version;
    }
    const promotedAt = current ? Date.parse(current.promotedAt) : Number.NaN;
    if (Number.isFinite(promotedAt)) metrics.deployedModelPromoted.set(promotedAt / 1000);
    else metrics.deployedModelPromoted.reset();

    if (this.watched === null) return;
    await this.trackUntrained(this.watched.fingerprint !== this.shownFingerprint);
    metrics.datasetUntrainedSince.set(this.untrainedSince === null ? 0 : this.untrainedSince / 1000);
  }

  private untrainedRecorded: boolean | null = null;

  /**
   * Keeps "untrained since" in the store, so a restarted controller does not reset the clock an
   * alert reads; the record names the model then in service, and is void once another one serves.
   */
  private async trackUntrained(untrained: boolean): Promise<void> {
    const { store } = this.options;
    if (!untrained) {
      this.untrainedSince = null;
      if (this.untrainedRecorded !== false) await writeJsonAtomic(store.untrainedSince, null);
      this.untrainedRecorded = false;
      return;
    }
    if (this.untrainedSince !== null) return;
    const recorded = await readJsonOr<UntrainedRecord | null>(store.untrainedSince, null).catch(() => null);
    const since = recorded && recorded.servedFingerprint === this.shownFingerprint ? Date.parse(recorded.since) : Number.NaN;
    this.untrainedSince = Number.isFinite(since) ? since : this.now;
    if (!Number.isFinite(since)) await writeJsonAtomic(store.untrainedSince, { since: new Date(this.now).toISOString(), servedFingerprint: this.shownFingerprint } satisfies UntrainedRecord);
    this.untrainedRecorded = true;
  }

  private async act(action: Action): Promise<void> {
    const { store, executor, deployer, metrics, log } = this.options;
    switch (action.type) {
      case "write-run": {
        if (this.options.runConfig !== undefined && !(await exists(store.runConfig(action.run.id)))) {
          await writeJsonAtomic(store.runConfig(action.run.id), this.options.runConfig);
        }
        await writeRun(store, action.run);
        recordRunEvents(metrics, action.events);
        log.info({ run: action.run.id, state: action.run.state, attempts: action.run.attempts.length, reason: action.run.reason }, action.why);
        return;
      }
      case "launch":
        return this.launch(action.runId, action.attempt);
      case "stop-attempt":
        return executor.stop(action.runId, action.attempt, action.reason);
      case "promote":
        return this.promote(action.runId);
      case "rollback": {
        log.warn({ run: action.runId, version: action.version, previous: action.previous, reason: action.reason }, "rolling back");
        await deployer.rollback(action.version, action.previous, action.reason);
        return;
      }
      case "resolve-request": {
        const record = await readRunRequest(store, action.requestId);
        if (!record || record.state !== "pending") return;
        const resolvedAt = new Date(this.now).toISOString();
        await writeRunRequest(store, { ...record, state: action.state, run: action.runId, reason: action.reason, resolvedAt });
        log.info({ request: action.requestId, state: action.state, run: action.runId, reason: action.reason }, "run request resolved");
        await pruneRunRequests(store);
        return;
      }
    }
  }

  /**
   * Records the execution before starting it, so a crash in between is seen as a lost execution, never
   * as none. The result of an earlier execution (one that failed for the machine) is removed first, so
   * that it is not taken for this one's.
   */
  private async launch(runId: string, number: number): Promise<void> {
    const { store, executor } = this.options;
    const run = await this.mustRead(runId);
    const attempt = run.attempts[number - 1];
    if (!attempt || attempt.state !== "pending") return;
    await rm(store.attempt(runId, number).result, { force: true });
    const startedAt = new Date(this.now).toISOString();
    const started: RunRecord = {
      ...run,
      updatedAt: startedAt,
      attempts: run.attempts.map((entry) => (entry.number === number ? { ...entry, state: "running" as const, executions: entry.executions + 1, startedAt, process: null, notBefore: null } : entry)),
    };
    await writeRun(store, started);
    const process = await executor.launch(runId, number);
    if (!process) return;
    const latest = await this.mustRead(runId);
    await writeRun(store, { ...latest, attempts: latest.attempts.map((entry) => (entry.number === number && entry.state === "running" ? { ...entry, process } : entry)) });
  }

  /** Each step is idempotent: allocate the version (recorded), move the bundle in, move the pointer. */
  private async promote(runId: string): Promise<void> {
    const { store, deployer, log } = this.options;
    let run = await this.mustRead(runId);
    const promotion = run.promotion;
    if (!promotion) return;
    let version = promotion.version;
    if (!version) {
      version = await nextModelVersion(store);
      run = { ...run, promotion: { ...promotion, version } };
      await writeRun(store, run);
    }
    const target = store.modelVersion(version);
    if (!(await exists(target))) {
      const bundle = store.attempt(runId, promotion.attempt).bundle;
      if (!(await exists(bundle))) {
        // Nothing to promote (the bundle was removed by hand): the run cannot succeed; say so rather than retry forever.
        const reason = `the bundle of attempt ${promotion.attempt} (${bundle}) is gone; nothing was deployed`;
        await writeRun(store, { ...run, state: "failed", reason, updatedAt: new Date(this.now).toISOString(), promotion: { ...promotion, version, state: "rolled-back", endedAt: new Date(this.now).toISOString(), reason } });
        recordRunEvents(this.options.metrics, [{ kind: "run-ended", outcome: "failed", attempts: run.attempts.length, accuracy: null, at: this.now }]);
        log.error({ run: runId, bundle }, reason);
        return;
      }
      await mkdir(store.models, { recursive: true });
      await rename(bundle, target);
    }
    const attempt = run.attempts[promotion.attempt - 1];
    const accuracy = attempt?.result?.ok ? `${(attempt.result.accuracy * 100).toFixed(1)}%` : "?";
    await deployer.rollout(version, `run ${runId} attempt ${promotion.attempt} passed the gate (test accuracy ${accuracy})`);
    log.info({ run: runId, version, previous: promotion.previous }, "model version promoted; waiting for the server to report it ready");
  }

  private async mustRead(runId: string): Promise<RunRecord> {
    const run = await readRun(this.options.store, runId);
    if (!run) throw new Error(`run ${runId} disappeared from the store`);
    return run;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.options.executor.close();
    if (this.identity) await releaseLock(this.options.store.controllerLock, this.identity);
    this.options.log.info("controller stopped");
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
