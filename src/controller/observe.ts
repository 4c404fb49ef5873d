import { UnknownRevisionError } from "../dataset/source.js";
import type { WatchedDataset } from "../dataset/watch.js";
import type { Logger } from "../log.js";
import type { ControllerSnapshot } from "../metrics/controller-metrics.js";
import type { AttemptObservation, ModelDeployer, TrainingExecutor } from "../platform/types.js";
import { isActive } from "../records/runs.js";
import type { Clock } from "../util/clock.js";
import { attemptKey, untrainedRecordFor, type DesiredDataset, type Observed, type ObservedRequest } from "./decide.js";
import type { ControllerStore, DatasetSource } from "./ports.js";

/**
 * Observing: everything decide needs, read afresh on every pass from the store, the platform and
 * (when it is due) the repository. The one thing carried from pass to pass is the last look at the
 * watched branch, as an informer caches what it watched: a git fetch is too dear to repeat on every
 * pass, so the branch is looked at when the poll interval has passed or something woke the loop.
 */

export interface ObserverPorts {
  store: ControllerStore;
  source: DatasetSource;
  executor: TrainingExecutor;
  deployer: ModelDeployer;
  clock: Clock;
  log: Logger;
  /** How often the repository is looked at without a webhook or a request. */
  pollIntervalMs: number;
}

export class Observer {
  /** Why the branch should be looked at on the next pass (a webhook, a request...), or null: only when the poll is due. */
  private lookDue: string | null = "startup";
  private lastLook = Number.NEGATIVE_INFINITY;
  private watched: WatchedDataset | null = null;
  /** What first showed the branch's current dataset (poll, webhook...): the trigger of the run it starts. */
  private watchedTrigger = "startup";
  private lookedAt: string | null = null;
  /** The last error of looking at the repository, for status. */
  private sourceError: string | null = null;

  constructor(private readonly ports: ObserverPorts) {}

  /** Look at the branch on the next pass, because of `trigger`. */
  lookSoon(trigger: string): void {
    this.lookDue = trigger;
  }

  /** When the branch is to be looked at next without being woken. */
  get nextPollAt(): number {
    return this.lastLook + this.ports.pollIntervalMs;
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
      error: this.sourceError,
    };
  }

  async observe(): Promise<Observed> {
    const { store, executor, deployer, clock } = this.ports;
    const runs = await store.listRuns();
    // 1. The watched branch, when it is due: whatever the requests do, new commits are always looked at.
    await this.lookAtBranchWhenDue();
    // 2. The oldest pending run request: its dataset is the one desired, once it can be looked at.
    const { desired: requested, request } = await this.observeRequest();
    const desired: DesiredDataset | null = requested ?? (this.watched ? { ...this.watched, trigger: this.watchedTrigger, force: false, request: null } : null);
    // 3. The attempts the records call running, as the platform sees them.
    const attempts = new Map<string, AttemptObservation>();
    for (const run of runs.filter(isActive)) {
      for (const attempt of run.attempts.filter((entry) => entry.state === "running")) {
        attempts.set(attemptKey(run.id, attempt.number), await executor.inspect(run, attempt));
      }
    }
    // 4. The model in service, and the promotion under way: its bundle, and how its rollout goes.
    const current = await store.currentModel();
    const deployed = current ? await store.versionFacts(current.version) : null;
    const promoting = runs.find((run) => run.state === "promoting");
    const promotion = promoting?.promotion ?? null;
    const moving = promoting && promotion && (promotion.version === null || current?.version !== promotion.version);
    const promotionBundle = moving ? await store.promotionBundle(promoting.id, promotion.attempt, promotion.version) : null;
    const rolloutFailure = promotion?.version && deployer.rolloutFailure ? await deployer.rolloutFailure(promotion.version) : null;
    const servedVersion = await deployer.servedVersion();
    // 5. What untrained-since says, for the alert that reads how long photos have waited.
    const untrainedRecord = this.watched ? await store.untrainedRecord() : undefined;
    return {
      now: clock.now(),
      desired,
      runs,
      attempts,
      current,
      servedVersion,
      rolloutFailure,
      request,
      promotionBundle,
      branchFingerprint: this.watched?.fingerprint ?? null,
      deployed,
      ...(untrainedRecord !== undefined ? { untrainedRecord } : {}),
    };
  }

  private async lookAtBranchWhenDue(): Promise<void> {
    const { source, clock, log, pollIntervalMs } = this.ports;
    const now = clock.now();
    if (this.lookDue === null && now - this.lastLook < pollIntervalMs) return;
    const trigger = this.lookDue ?? "poll";
    this.lookDue = null;
    this.lastLook = now;
    try {
      const looked = await source.look(null);
      this.sourceError = null;
      this.lookedAt = new Date(clock.now()).toISOString();
      if (looked.fingerprint !== this.watched?.fingerprint) this.watchedTrigger = trigger;
      this.watched = looked;
    } catch (error) {
      this.sourceError = (error as Error).message;
      log.warn({ err: error }, "cannot read the watched repository; trying again later");
    }
  }

  /**
   * The oldest pending run request and, when its commit can be looked at, its dataset. A commit that
   * is not there makes the request unusable (decide records it as failed); any other error leaves it
   * pending, to be looked at again on the next pass, while the branch is watched as usual.
   */
  private async observeRequest(): Promise<{ desired: DesiredDataset | null; request: ObservedRequest | null }> {
    const { store, source, log } = this.ports;
    const pending = await store.pendingRequest();
    if (!pending) return { desired: null, request: null };
    try {
      const looked = await source.look(pending.sha ?? pending.commit);
      return { desired: { ...looked, trigger: `api (${pending.by})`, force: pending.force, request: pending.id }, request: { id: pending.id, unusable: null } };
    } catch (error) {
      if (error instanceof UnknownRevisionError) return { desired: null, request: { id: pending.id, unusable: `${error.message}; nothing was run` } };
      this.sourceError = (error as Error).message;
      log.warn({ err: error, request: pending.id }, "cannot look at the commit of a run request; trying again later");
      return { desired: null, request: { id: pending.id, unusable: null } };
    }
  }
}

/** What the controller's gauges show of one observation (metrics/controller-metrics.ts sets them). */
export function snapshotOf(observed: Observed): ControllerSnapshot {
  const active = observed.runs.filter(isActive);
  const current = observed.current;
  const promotedAt = current ? Date.parse(current.promotedAt) : Number.NaN;
  const untrained = untrainedRecordFor(observed);
  return {
    activeRuns: active.length,
    attemptsPending: [...observed.attempts.values()].filter((seen) => seen.result === null && typeof seen.detail === "string").length,
    dataset: observed.desired ? { train: observed.desired.dataset.train, test: observed.desired.dataset.test, rejected: observed.desired.dataset.rejected.length } : null,
    deployed: current
      ? {
          version: current.version,
          datasetCommit: observed.deployed?.datasetCommit ?? null,
          accuracy: observed.deployed?.accuracy ?? null,
          promotedAt: Number.isFinite(promotedAt) ? promotedAt : null,
        }
      : null,
    untrainedSince: untrained === undefined ? undefined : untrained === null ? 0 : Date.parse(untrained.since),
  };
}
