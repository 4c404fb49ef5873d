import { Registry } from "prom-client";
import { Controller, type ControllerOptions } from "../../src/controller/controller.js";
import type { ControllerSettings } from "../../src/controller/decide.js";
import type { ControllerStore, DatasetSource } from "../../src/controller/ports.js";
import { UnknownRevisionError } from "../../src/dataset/source.js";
import type { WatchedDataset } from "../../src/dataset/watch.js";
import { silentLogger } from "../../src/log.js";
import { createControllerMetrics, type ControllerMetrics } from "../../src/metrics/controller-metrics.js";
import type { AttemptObservation, ModelDeployer, ProcessRef, TrainingExecutor } from "../../src/platform/types.js";
import type { ControllerLockResult, PromotionBundle, RequestResolution, VersionFacts } from "../../src/records/record-store.js";
import type { RunRequestRecord } from "../../src/records/requests.js";
import type { RunRecord } from "../../src/records/runs.js";
import type { UntrainedRecord } from "../../src/records/untrained.js";
import type { CleanupReport } from "../../src/store/cleanup.js";
import type { CurrentModel } from "../../src/store/models.js";
import type { Clock } from "../../src/util/clock.js";
import { controllerSettings } from "./controller-settings.js";

/**
 * An in-memory world for the control loop, the sample-controller way: a fake store, a fake platform
 * and a fake repository that answer from plain fields and record every change asked of them, in
 * order, in one shared `calls` list, so a test asserts exactly what one pass did. Reads are not
 * recorded (sample-controller filters its informers' list and watch calls the same way).
 */

/** One change asked of the fake world: which port and method, and its arguments as they were. */
export type Call = [string, ...unknown[]];

const copy = <T>(value: T): T => structuredClone(value);

/** A clock that moves only when the test moves it. */
export class FakeClock implements Clock {
  constructor(private time: number) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export class FakeStore implements ControllerStore {
  readonly location = "/fake/store";
  readonly runs = new Map<string, RunRecord>();
  readonly requests: RunRequestRecord[] = [];
  current: CurrentModel | null = null;
  /** Model versions in the store, with what their bundles say. */
  readonly versions = new Map<string, VersionFacts>();
  /** Attempts whose bundle is in their folder, as "run/attempt". */
  readonly bundles = new Set<string>();
  untrained: UntrainedRecord | null | undefined = undefined;
  /** Makes promote fail, as a full or read-only disk would. */
  promoteFails: Error | null = null;

  constructor(
    private readonly calls: Call[],
    private readonly clock: Clock,
  ) {}

  private record(method: string, ...args: unknown[]): void {
    this.calls.push([`store.${method}`, ...args.map(copy)]);
  }

  lockController(): Promise<ControllerLockResult> {
    return Promise.resolve({ acquired: true });
  }
  unlockController(): Promise<void> {
    return Promise.resolve();
  }
  adoptLegacyRequest(): Promise<RunRequestRecord | null> {
    return Promise.resolve(null);
  }
  cleanStrays(): Promise<CleanupReport> {
    return Promise.resolve({ removed: [], kept: [] });
  }

  listRuns(): Promise<RunRecord[]> {
    return Promise.resolve([...this.runs.values()].sort((a, b) => Number(a.id) - Number(b.id)).map(copy));
  }
  readRun(id: string): Promise<RunRecord | null> {
    const run = this.runs.get(id);
    return Promise.resolve(run ? copy(run) : null);
  }
  writeRun(run: RunRecord): Promise<void> {
    this.record("writeRun", run);
    this.runs.set(run.id, copy(run));
    return Promise.resolve();
  }
  clearAttemptResult(runId: string, attempt: number): Promise<void> {
    this.record("clearAttemptResult", runId, attempt);
    return Promise.resolve();
  }

  pendingRequest(): Promise<RunRequestRecord | null> {
    const pending = this.requests.find((record) => record.state === "pending");
    return Promise.resolve(pending ? copy(pending) : null);
  }
  resolveRequest(id: string, resolution: RequestResolution): Promise<boolean> {
    this.record("resolveRequest", id, resolution);
    const index = this.requests.findIndex((record) => record.id === id && record.state === "pending");
    if (index < 0) return Promise.resolve(false);
    this.requests[index] = { ...(this.requests[index] as RunRequestRecord), ...resolution };
    return Promise.resolve(true);
  }

  currentModel(): Promise<CurrentModel | null> {
    return Promise.resolve(copy(this.current));
  }
  versionFacts(version: string): Promise<VersionFacts> {
    return Promise.resolve(copy(this.versions.get(version) ?? { version, datasetCommit: null, datasetFingerprint: null, accuracy: null }));
  }
  nextModelVersion(): Promise<string> {
    const numbers = [...this.versions.keys()].map((version) => Number(version.slice(1)));
    return Promise.resolve(`v${Math.max(0, ...numbers) + 1}`);
  }
  promotionBundle(runId: string, attempt: number, version: string | null): Promise<PromotionBundle> {
    const present = (version !== null && this.versions.has(version)) || this.bundles.has(`${runId}/${attempt}`);
    return Promise.resolve({ present, location: `${this.location}/runs/${runId}/attempt-${attempt}/bundle` });
  }
  promote(runId: string, attempt: number, version: string): Promise<void> {
    this.record("promote", runId, attempt, version);
    if (this.promoteFails) return Promise.reject(this.promoteFails);
    if (this.versions.has(version)) return Promise.resolve();
    if (!this.bundles.delete(`${runId}/${attempt}`)) return Promise.reject(new Error(`no bundle for attempt ${attempt} of run ${runId}`));
    const run = this.runs.get(runId);
    this.versions.set(version, { version, datasetCommit: run?.commit ?? null, datasetFingerprint: run?.fingerprint ?? null, accuracy: 0.97 });
    return Promise.resolve();
  }

  untrainedRecord(): Promise<UntrainedRecord | null | undefined> {
    return Promise.resolve(copy(this.untrained));
  }
  recordUntrained(record: UntrainedRecord | null): Promise<void> {
    this.record("recordUntrained", record);
    this.untrained = copy(record);
    return Promise.resolve();
  }

  /** Moves the pointer, as a deployer does. */
  point(version: string | null, reason: string): void {
    this.current = version ? { version, previous: this.current?.version ?? null, promotedAt: new Date(this.clock.now()).toISOString(), reason } : null;
  }
}

/** The platform: attempts that run when launched (until a test says otherwise), and a server that serves what it is told. */
export class FakePlatform {
  /** What inspect answers per "run/attempt"; an attempt launched and not listed here is alive, without a result. */
  readonly seen = new Map<string, AttemptObservation>();
  /** The process launch answers with; null: the platform names none (Kubernetes). */
  process: ProcessRef | null = { pid: 4242, startTime: "77" };
  /** The version the server reports ready. */
  served: string | null = null;
  private readonly launched = new Set<string>();

  readonly executor: TrainingExecutor;
  readonly deployer: ModelDeployer;

  constructor(calls: Call[], store: FakeStore) {
    const record = (method: string, ...args: unknown[]) => calls.push([method, ...args.map(copy)]);
    this.executor = {
      attemptsOnShutdown: "left running",
      launch: (runId, attempt) => {
        record("executor.launch", runId, attempt);
        this.launched.add(`${runId}/${attempt}`);
        return Promise.resolve(copy(this.process));
      },
      inspect: (run, attempt) => {
        const key = `${run.id}/${attempt.number}`;
        return Promise.resolve(copy(this.seen.get(key) ?? { alive: this.launched.has(key) ? true : null, result: null }));
      },
      stop: (runId, attempt, reason) => {
        record("executor.stop", runId, attempt, reason);
        return Promise.resolve();
      },
      shutdown: () => Promise.resolve(),
    };
    this.deployer = {
      rollout: (version, reason) => {
        record("deployer.rollout", version, reason);
        store.point(version, reason);
        return Promise.resolve();
      },
      servedVersion: () => Promise.resolve(this.served),
      rollback: (version, previous, reason) => {
        record("deployer.rollback", version, previous, reason);
        store.point(previous, `rollback from ${version}: ${reason}`);
        return Promise.resolve();
      },
    };
  }
}

/** The watched repository: a dataset per commit (null: the branch tip); each look is recorded with the time it happened. */
export class FakeSource implements DatasetSource {
  readonly datasets = new Map<string | null, WatchedDataset>();
  readonly looks: Array<{ at: number; commit: string | null }> = [];

  constructor(private readonly clock: Clock) {}

  look(commit: string | null): Promise<WatchedDataset> {
    this.looks.push({ at: this.clock.now(), commit });
    const dataset = this.datasets.get(commit);
    if (!dataset) return Promise.reject(new UnknownRevisionError(`the fake repository has no commit "${String(commit)}"`));
    return Promise.resolve(copy(dataset));
  }

  resolve(revision: string): Promise<string> {
    if (!this.datasets.has(revision)) return Promise.reject(new UnknownRevisionError(`the fake repository has no commit "${revision}"`));
    return Promise.resolve(revision);
  }
}

export interface FakeWorld {
  calls: Call[];
  clock: FakeClock;
  store: FakeStore;
  platform: FakePlatform;
  source: FakeSource;
  metrics: ControllerMetrics;
  controller: Controller;
}

/** A controller on a fake world, started at `now`; nothing runs until the test calls controller.reconcile(). */
export function fakeWorld(now: number, settings: Partial<ControllerSettings> = {}, options: Partial<Pick<ControllerOptions, "pollIntervalMs" | "actionBackoff">> = {}): FakeWorld {
  const calls: Call[] = [];
  const clock = new FakeClock(now);
  const store = new FakeStore(calls, clock);
  const platform = new FakePlatform(calls, store);
  const source = new FakeSource(clock);
  const metrics = createControllerMetrics(new Registry());
  const controller = new Controller({
    store,
    source,
    executor: platform.executor,
    deployer: platform.deployer,
    settings: controllerSettings(settings),
    metrics,
    log: silentLogger(),
    pollIntervalMs: options.pollIntervalMs ?? 60_000,
    clock,
    ...(options.actionBackoff ? { actionBackoff: options.actionBackoff } : {}),
  });
  return { calls, clock, store, platform, source, metrics, controller };
}
