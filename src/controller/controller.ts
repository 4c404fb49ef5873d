import type { Logger } from "../log.js";
import { showControllerSnapshot, type ControllerMetrics } from "../metrics/controller-metrics.js";
import type { ModelDeployer, TrainingExecutor } from "../platform/types.js";
import { systemClock, type Clock } from "../util/clock.js";
import { act, RunGoneError, type ActDependencies } from "./act.js";
import { ActionBackoff, type BackoffSettings } from "./backoff.js";
import { actionKey, decide, type Action, type ControllerSettings, type Decision } from "./decide.js";
import { Observer, snapshotOf } from "./observe.js";
import type { ControllerStore, DatasetSource } from "./ports.js";

/**
 * The control loop: observe the store, the repository and the platform; decide (pure); act; repeat.
 * Every pass starts from what is observed, never from what the last pass remembered, so a
 * controller restarted at any moment carries on where the records say things stand. One controller
 * per store: it holds the store's controller lock while it runs.
 *
 * Timing: decide says when to look again (an active run, an attempt waiting out its backoff); the
 * repository is polled on its own interval; a failing action backs off on its own, so neither the
 * poll nor any other action waits for it; and a webhook, a request or a platform event wakes the
 * loop at once (kick).
 */

export interface ControllerOptions {
  store: ControllerStore;
  source: DatasetSource;
  executor: TrainingExecutor;
  deployer: ModelDeployer;
  settings: ControllerSettings;
  metrics: ControllerMetrics;
  log: Logger;
  /** How often the repository is looked at without a webhook or a request. */
  pollIntervalMs: number;
  /** The one source of time; the machine's clock by default. */
  clock?: Clock;
  /** How a failing action backs off; 1 s doubling to 5 min by default. */
  actionBackoff?: BackoffSettings;
}

export class ControllerBusyError extends Error {
  override readonly name = "ControllerBusyError";
}

/** Rounds of observe-decide-act in one pass at most, so that a decision that never settles cannot spin. */
const maxRounds = 20;

export class Controller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  /** Passes in a row whose observation failed, for the loop's own backoff. */
  private failures = 0;
  private readonly clock: Clock;
  private readonly observer: Observer;
  private readonly backoff: ActionBackoff;
  private readonly acting: ActDependencies;

  constructor(private readonly options: ControllerOptions) {
    const { store, source, executor, deployer, metrics, log, pollIntervalMs } = options;
    this.clock = options.clock ?? systemClock;
    this.observer = new Observer({ store, source, executor, deployer, clock: this.clock, log, pollIntervalMs });
    this.backoff = new ActionBackoff(options.actionBackoff);
    this.acting = { store, executor, deployer, clock: this.clock, metrics, log };
  }

  async start(): Promise<void> {
    const { store, log } = this.options;
    const lock = await store.lockController();
    if (!lock.acquired) throw new ControllerBusyError(`another faceops controller (pid ${lock.holderPid}) is already working on the store ${store.location}`);
    this.stopped = false;
    log.info({ store: store.location, pollIntervalMs: this.options.pollIntervalMs }, "controller started");
    const adopted = await store.adoptLegacyRequest();
    if (adopted) log.info({ request: adopted.id, commit: adopted.commit }, "a run request of an older faceops was moved into the request queue");
    await this.cleanStrays();
    await this.tick();
  }

  /**
   * Removes what crashes left in the store, each only when its owner is provably gone, and says what it
   * removed and what it kept. A failure here does not stop the controller: strays cost space, not correctness.
   */
  private async cleanStrays(): Promise<void> {
    const { store, log } = this.options;
    try {
      const report = await store.cleanStrays();
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
    return this.options.source.resolve(revision);
  }

  /** Look now: a webhook said the repository changed, or someone asked for a run. Bursts coalesce. */
  kick(trigger: string): void {
    this.observer.lookSoon(trigger);
    void this.tick();
  }

  /** What the controller last saw in the repository, for the API and status. */
  get watching() {
    return this.observer.watching;
  }

  /** Runs one pass now (or right after the one running), and resolves when it is done. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.reconcile()
      .then((delayMs) => this.schedule(delayMs))
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          void this.tick();
        }
      });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  /**
   * One pass: observe, decide, act, and again while an action was carried out (a new run is then
   * launched in the same pass), up to maxRounds. It answers how long to wait before the next pass:
   * the soonest of decide's requeue-after, the repository poll, the retry of a failing action and,
   * when the pass itself failed (observing, or deciding), the loop's backoff. tick() runs it; tests call it directly.
   */
  async reconcile(): Promise<number> {
    const { settings, metrics, log } = this.options;
    let decision: Decision | null = null;
    const decided = new Set<string>();
    try {
      for (let round = 0; round < maxRounds; round++) {
        const observed = await this.observer.observe();
        showControllerSnapshot(metrics, snapshotOf(observed));
        decision = decide(observed, settings);
        for (const action of decision.actions) decided.add(actionKey(action));
        if (!(await this.perform(decision.actions))) break;
      }
      this.failures = 0;
      this.backoff.keepOnly(decided);
    } catch (error) {
      this.failures++;
      metrics.loopErrors.inc();
      log.error({ err: error, failures: this.failures }, "controller pass failed; retrying with backoff");
    }
    return this.delayUntilNextPass(decision);
  }

  /**
   * Carries out the actions in order and answers whether any was. An action waiting out its backoff,
   * or failing, stops the ones after it (they may depend on it), except the untrained-since record,
   * which depends on nothing.
   */
  private async perform(actions: readonly Action[]): Promise<boolean> {
    const { metrics, log } = this.options;
    let performed = false;
    let blocked = false;
    for (const action of actions) {
      if (blocked && action.type !== "record-untrained-since") continue;
      const key = actionKey(action);
      if (this.backoff.waitingUntil(key, this.clock.now()) !== null) {
        blocked = true;
        continue;
      }
      try {
        await act(action, this.acting);
        this.backoff.succeeded(key);
        performed = true;
      } catch (error) {
        blocked = true;
        if (error instanceof RunGoneError) {
          // Not found: nothing to retry; the next observation no longer holds the run, so nothing asks for it.
          log.warn({ err: error, action: key }, `${key}: the run is gone from the store; not retried`);
          continue;
        }
        const now = this.clock.now();
        const { failures, retryAt } = this.backoff.failed(key, now);
        metrics.loopErrors.inc();
        log.error({ err: error, action: key, failures }, `${key} failed; retried in ${Math.ceil((retryAt - now) / 1000)} s`);
      }
    }
    return performed;
  }

  private delayUntilNextPass(decision: Decision | null): number {
    const { pollIntervalMs } = this.options;
    const now = this.clock.now();
    const waits = [this.observer.nextPollAt - now];
    if (decision?.requeueAfterMs != null) waits.push(decision.requeueAfterMs);
    const retryAt = this.backoff.nextRetryAt();
    if (retryAt !== null) waits.push(retryAt - now);
    if (this.failures > 0) waits.push(Math.min(pollIntervalMs, 1000 * 2 ** Math.min(this.failures, 6)));
    return Math.max(0, Math.min(...waits));
  }

  async stop(): Promise<void> {
    const { executor, store, log } = this.options;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await executor.shutdown();
    await store.unlockController();
    log.info({ attemptsInProgress: executor.attemptsOnShutdown }, "controller stopped");
  }
}
