import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { act, RunGoneError } from "../../../src/controller/act.js";
import { silentLogger } from "../../../src/log.js";
import type { WatchedDataset } from "../../../src/dataset/watch.js";
import type { AttemptResult } from "../../../src/records/attempt-result.js";
import type { AttemptRecord, RunRecord } from "../../../src/records/runs.js";
import { fakeWorld, type FakeWorld } from "../../helpers/controller-fakes.js";
import { controllerSettings } from "../../helpers/controller-settings.js";

/**
 * What one pass of the loop does, asserted exactly, the sample-controller way: the store, the
 * platform and the repository are in-memory fakes that record every change asked of them, in order.
 * Each test sets up the world as records would leave it, runs one pass (controller.reconcile()) and
 * compares the calls with the exact list expected.
 */

const t0 = Date.parse("2026-11-28T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const initial = controllerSettings().initialHyperparameters;

const tip: WatchedDataset = {
  fingerprint: "aaaa",
  commit: "a".repeat(40),
  source: "/repo",
  usable: true,
  reason: null,
  dataset: { photos: 60, train: 45, test: 15, labels: 3, rejected: [] },
};

const passing: AttemptResult = {
  ok: true,
  accuracy: 0.97,
  balancedAccuracy: 0.97,
  testPhotos: 15,
  labels: 3,
  curves: [],
  deployed: null,
  forwardPasses: 0,
  durationSeconds: 5,
  engine: "tfjs-wasm",
  backbone: "face-embedding",
};

function attempt(extra: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    number: 1,
    hyperparameters: initial,
    diagnosis: null,
    reason: "attempt 1 uses the configured hyperparameters",
    state: "pending",
    executions: 0,
    process: null,
    startedAt: null,
    endedAt: null,
    result: null,
    gate: null,
    error: null,
    log: "runs/1/attempt-1/attempt.log",
    ...extra,
  };
}

function run(extra: Partial<RunRecord> = {}): RunRecord {
  return {
    schemaVersion: 1,
    id: "1",
    fingerprint: tip.fingerprint,
    commit: tip.commit,
    source: tip.source,
    trigger: "poll",
    createdAt: iso(t0 - 120_000),
    updatedAt: iso(t0 - 120_000),
    state: "running",
    reason: "the first dataset seen",
    dataset: tip.dataset,
    attempts: [attempt()],
    promotion: null,
    ...extra,
  };
}

/** Attempt 1 passed the gate; the run is promoting it. */
function promoting(version: string | null, startedAt = t0 - 5_000): RunRecord {
  const passed = attempt({ state: "finished", executions: 1, startedAt: iso(t0 - 60_000), endedAt: iso(startedAt), result: passing, gate: { pass: true, verdict: "passed", reason: "97.0% >= 90.0%" } });
  return run({ state: "promoting", reason: "attempt 1 passed the gate", attempts: [passed], promotion: { attempt: 1, version, previous: "v1", state: "pending", startedAt: iso(startedAt), endedAt: null, reason: null } });
}

/** A world whose branch tip is `tip`, already looked at as the records say (so a pass does only what the test is about). */
function world(setUp: (world: FakeWorld) => void, settings = {}): FakeWorld {
  const built = fakeWorld(t0, settings);
  built.source.datasets.set(null, tip);
  setUp(built);
  return built;
}

const v1 = { version: "v1", datasetCommit: "0".repeat(40), datasetFingerprint: "0000", accuracy: 0.95 };

describe("act: one pass, the calls it makes", () => {
  test("a pending attempt is launched: its execution recorded as running before the process starts, then the process", async () => {
    const { controller, store, calls } = world(({ store }) => {
      store.runs.set("1", run());
      store.untrained = { since: iso(t0 - 3_600_000), servedFingerprint: null };
    });
    const delay = await controller.reconcile();
    const started = run({ updatedAt: iso(t0), attempts: [attempt({ state: "running", executions: 1, startedAt: iso(t0), process: null, notBefore: null })] });
    assert.deepEqual(calls, [
      ["store.clearAttemptResult", "1", 1],
      ["store.writeRun", started],
      ["executor.launch", "1", 1],
      ["store.writeRun", { ...started, attempts: [{ ...started.attempts[0], process: { pid: 4242, startTime: "77" } }] }],
    ]);
    assert.equal(store.runs.get("1")?.attempts[0]?.state, "running");
    assert.equal(delay, 1_000, "a running attempt is looked at again after activeIntervalMs");
  });

  test("a run whose attempt passed is promoted: the version allocated and recorded first, then the bundle moved, then the rollout", async () => {
    const { controller, calls, store } = world(({ store }) => {
      store.runs.set("1", promoting(null));
      store.bundles.add("1/1");
      store.versions.set("v1", v1);
      store.point("v1", "the first version");
      store.untrained = { since: iso(t0 - 3_600_000), servedFingerprint: "0000" };
    });
    await controller.reconcile();
    assert.deepEqual(calls, [
      ["store.writeRun", { ...promoting(null), promotion: { ...promoting(null).promotion, version: "v2" } }],
      ["store.promote", "1", 1, "v2"],
      ["deployer.rollout", "v2", "run 1 attempt 1 passed the gate (test accuracy 97.0%)"],
      // v2 was trained on the branch tip: nothing waits for training any more.
      ["store.recordUntrained", null],
    ]);
    assert.equal(store.current?.version, "v2");
    assert.equal(store.runs.get("1")?.state, "promoting", "until the server reports v2 ready");
  });

  test("a rollout not confirmed by its deadline is rolled back, and the run ends with why", async () => {
    const { controller, calls, store, metrics } = world(({ store, platform }) => {
      store.runs.set("1", promoting("v2", t0 - 61_000));
      store.versions.set("v1", v1);
      store.versions.set("v2", { version: "v2", datasetCommit: tip.commit, datasetFingerprint: tip.fingerprint, accuracy: 0.97 });
      store.point("v1", "the first version");
      store.point("v2", "run 1 attempt 1 passed the gate");
      store.untrained = null;
      platform.served = "v1";
    });
    await controller.reconcile();
    const reason = "v2 was not reported ready within 60 s; v1 serves again";
    const before = promoting("v2", t0 - 61_000);
    assert.deepEqual(calls, [
      ["deployer.rollback", "v2", "v1", reason],
      ["store.writeRun", { ...before, state: "failed", reason: `rollout failed: ${reason}`, updatedAt: iso(t0), promotion: { ...before.promotion, state: "rolled-back", endedAt: iso(t0), reason } }],
      // v1 serves again, and it was not trained on the branch tip: the photos wait for training from now.
      ["store.recordUntrained", { since: iso(t0), servedFingerprint: "0000" }],
    ]);
    assert.equal(store.current?.version, "v1");
    assert.match(await metrics.registry.metrics(), /^faceops_runs_total\{outcome="failed"\} 1$/m);
  });

  test("a launch of a run that is gone is not found: not retried", async () => {
    const { store, platform, clock, metrics } = world(() => undefined);
    const dependencies = { store, executor: platform.executor, deployer: platform.deployer, clock, metrics, log: silentLogger() };
    await assert.rejects(act({ type: "launch", runId: "9", attempt: 1 }, dependencies), RunGoneError);
  });
});

describe("act: a failing action backs off on its own", () => {
  test("a promote that keeps failing retries 1, 2, 4, 8... s apart, while the repository is polled every 60 s, on time", async () => {
    const { controller, calls, store, source, clock, metrics, platform } = world(({ store }) => {
      store.runs.set("1", promoting(null));
      store.bundles.add("1/1");
      store.versions.set("v1", v1);
      store.point("v1", "the first version");
      store.untrained = { since: iso(t0 - 3_600_000), servedFingerprint: "0000" };
      store.promoteFails = new Error("EIO: i/o error, rename");
    });
    // The loop as tick() runs it, on the fake clock: a pass, then the wait it asks for. Each call is stamped with its pass's time.
    const stamped: Array<{ at: number; method: unknown }> = [];
    let passes = 0;
    while (clock.now() <= t0 + 180_000) {
      const from = calls.length;
      const at = clock.now() - t0;
      const delay = await controller.reconcile();
      passes++;
      for (const [method] of calls.slice(from)) stamped.push({ at, method });
      clock.advance(delay);
    }
    assert.deepEqual(
      source.looks.map((look) => look.at - t0),
      [0, 60_000, 120_000, 180_000],
      "the poll is on schedule, whatever the promote does",
    );
    const tried = stamped.filter(({ method }) => method === "store.promote").map(({ at }) => at);
    assert.deepEqual(tried, [0, 1_000, 3_000, 7_000, 15_000, 31_000, 63_000, 127_000], "each retry waits twice as long as the one before");
    assert.equal(passes, 181, "the run is looked at every second meanwhile (activeIntervalMs): a failure does not slow the loop");
    assert.deepEqual(stamped.map(({ method }) => method).filter((method) => method !== "store.promote"), ["store.writeRun"], "the version is allocated and recorded once; nothing else is asked");
    assert.equal(store.runs.get("1")?.promotion?.version, "v2");
    assert.match(await metrics.registry.metrics(), /^faceops_controller_errors_total 8$/m);

    // The disk is back: the retry due at 255 s succeeds, and the promotion goes on (the server loads v2 at once here).
    store.promoteFails = null;
    platform.served = "v2";
    clock.advance(t0 + 255_000 - clock.now());
    const from = calls.length;
    await controller.reconcile();
    assert.deepEqual(calls.slice(from).map(([method]) => method), ["store.promote", "deployer.rollout", "store.writeRun", "store.recordUntrained"]);
    assert.equal(store.runs.get("1")?.state, "passed");
  });
});
