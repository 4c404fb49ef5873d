import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { actionKey, attemptKey, decide, type Action, type ControllerSettings, type DesiredDataset, type Observed } from "../../../src/controller/decide.js";
import type { AttemptObservation } from "../../../src/platform/types.js";
import type { AttemptResult } from "../../../src/records/attempt-result.js";
import type { AttemptRecord, RunRecord } from "../../../src/records/runs.js";
import type { EpochCurve } from "../../../src/model/learning-curve.js";
import { controllerSettings } from "../../helpers/controller-settings.js";

const settings = controllerSettings();

const t0 = Date.parse("2026-11-28T12:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();

function desired(fingerprint: string, extra: Partial<DesiredDataset> = {}): DesiredDataset {
  return {
    fingerprint,
    commit: `${fingerprint}`.padEnd(40, "0"),
    source: "/repo",
    usable: true,
    reason: null,
    dataset: { photos: 60, train: 45, test: 15, labels: 3, rejected: [] },
    trigger: "poll",
    force: false,
    request: null,
    ...extra,
  };
}

function attempt(number: number, extra: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    number,
    hyperparameters: settings.initialHyperparameters,
    diagnosis: null,
    reason: "configured",
    state: "running",
    executions: 1,
    process: { pid: 4242, startTime: "1" },
    startedAt: at(0),
    endedAt: null,
    result: null,
    gate: null,
    error: null,
    log: `runs/1/attempt-${number}/attempt.log`,
    ...extra,
  };
}

function run(id: string, fingerprint: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    schemaVersion: 1,
    id,
    fingerprint,
    commit: fingerprint.padEnd(40, "0"),
    source: "/repo",
    trigger: "poll",
    createdAt: at(0),
    updatedAt: at(0),
    state: "running",
    reason: null,
    dataset: { photos: 60, train: 45, test: 15, labels: 3, rejected: [] },
    attempts: [attempt(1)],
    promotion: null,
    ...extra,
  };
}

const curves = (trainAccuracy: number, testAccuracy: number): EpochCurve[] => [
  { epoch: 1, trainLoss: 1.2, trainAccuracy: trainAccuracy / 2, testLoss: 1.3, testAccuracy: testAccuracy / 2, validationLoss: null, diverged: false },
  { epoch: 2, trainLoss: 0.8, trainAccuracy, testLoss: 0.9, testAccuracy, validationLoss: null, diverged: false },
];

const result = (accuracy: number, deployed: { version: string; accuracy: number } | null = null, trainAccuracy = accuracy): AttemptResult => ({
  ok: true,
  accuracy,
  balancedAccuracy: accuracy,
  testPhotos: 15,
  labels: 3,
  curves: curves(trainAccuracy, accuracy),
  deployed,
  forwardPasses: 0,
  durationSeconds: 5,
  engine: "tfjs-wasm",
  backbone: "face-embedding",
});

function observed(extra: Partial<Observed> & { seen?: Record<string, AttemptObservation> }): Observed {
  const { seen, ...rest } = extra;
  return {
    now: t0 + 10_000,
    desired: null,
    runs: [],
    attempts: new Map(Object.entries(seen ?? {})),
    current: null,
    servedVersion: null,
    ...rest,
  };
}

/** The actions of a decision; the requeue-after is asserted in its own tests. */
const decideActions = (seen: Observed, using: ControllerSettings): Action[] => decide(seen, using).actions;

const writes = (actions: Action[]) => actions.filter((action) => action.type === "write-run").map((action) => action.run);

describe("decide: when to start a run", () => {
  test("a new dataset starts run 1 with attempt 1 on the configured hyperparameters", () => {
    const actions = decideActions(observed({ desired: desired("aaaa") }), settings);
    const [created] = writes(actions);
    assert.ok(created);
    assert.equal(created.id, "1");
    assert.equal(created.state, "running");
    assert.deepEqual(created.attempts.map((entry) => [entry.number, entry.state, entry.hyperparameters]), [[1, "pending", settings.initialHyperparameters]]);
    assert.match(created.attempts[0]?.reason ?? "", /configured hyperparameters/);
  });

  test("the same fingerprint as the last run (a README-only commit) does nothing", () => {
    const last = run("3", "aaaa", { state: "passed" });
    assert.deepEqual(decideActions(observed({ desired: desired("aaaa", { commit: "b".repeat(40) }), runs: [last] }), settings), []);
  });


  test("an unusable dataset (one person) starts nothing", () => {
    assert.deepEqual(decideActions(observed({ desired: desired("aaaa", { usable: false, reason: "one person" }) }), settings), []);
  });

  test("a newer commit waits for the active run (queue)", () => {
    const active = run("1", "aaaa");
    const actions = decideActions(observed({ desired: desired("bbbb"), runs: [active], seen: { [attemptKey("1", 1)]: { alive: true, result: null } } }), settings);
    assert.deepEqual(actions, []);
  });

  test("a newer commit stops the active run (supersede)", () => {
    const active = run("1", "aaaa");
    const actions = decideActions(observed({ desired: desired("bbbb"), runs: [active], seen: { [attemptKey("1", 1)]: { alive: true, result: null } } }), { ...settings, onNewCommit: "supersede" });
    assert.deepEqual(actions.map((action) => action.type), ["stop-attempt", "write-run"]);
    const [superseded] = writes(actions);
    assert.equal(superseded?.state, "superseded");
    assert.equal(superseded?.attempts[0]?.state, "cancelled");
  });
});

describe("decide: run requests", () => {
  const requestId = "20261128T120000000Z-0a1b2c3d";
  const resolutions = (actions: Action[]) =>
    actions.flatMap((action) => (action.type === "resolve-request" ? [{ id: action.requestId, state: action.state, run: action.runId, reason: action.reason }] : []));

  test("a request starts a run that names it, and is resolved as started with the run's id", () => {
    const actions = decideActions(observed({ desired: desired("bbbb", { request: requestId, trigger: "api (10.0.0.7)" }), request: { id: requestId, unusable: null }, runs: [run("3", "aaaa", { state: "passed" })] }), settings);
    const [created] = writes(actions);
    assert.equal(created?.id, "4");
    assert.equal(created?.request, requestId);
    assert.equal(created?.trigger, "api (10.0.0.7)");
    assert.deepEqual(resolutions(actions), [{ id: requestId, state: "started", run: "4", reason: "run 4 was created for it" }]);
    assert.deepEqual(actions.map((action) => action.type), ["write-run", "resolve-request"], "the run is written before the request is resolved");
  });

  test("with force, the same dataset runs again", () => {
    const actions = decideActions(observed({ desired: desired("aaaa", { force: true, request: requestId }), request: { id: requestId, unusable: null }, runs: [run("3", "aaaa", { state: "failed" })] }), settings);
    assert.equal(writes(actions)[0]?.id, "4");
    assert.equal(resolutions(actions)[0]?.state, "started");
  });

  test("without force, a dataset already run is skipped, naming the run", () => {
    const actions = decideActions(observed({ desired: desired("aaaa", { request: requestId }), request: { id: requestId, unusable: null }, runs: [run("3", "aaaa", { state: "passed" })] }), settings);
    assert.deepEqual(writes(actions), []);
    const [resolved] = resolutions(actions);
    assert.equal(resolved?.state, "skipped");
    assert.equal(resolved?.run, "3");
    assert.match(resolved?.reason ?? "", /run 3 already trained on this dataset .*force/);
  });

  test("a dataset that cannot be trained on fails the request with its reason", () => {
    const actions = decideActions(observed({ desired: desired("aaaa", { request: requestId, usable: false, reason: "one person folder" }), request: { id: requestId, unusable: null } }), settings);
    assert.deepEqual(resolutions(actions), [{ id: requestId, state: "failed", run: null, reason: "one person folder" }]);
  });

  test("a request whose commit is not there fails with why, and the branch's new dataset still starts a run", () => {
    const reason = '/faces has no commit "doesnotexist"; nothing was run';
    const actions = decideActions(observed({ desired: desired("bbbb"), request: { id: requestId, unusable: reason }, runs: [run("3", "aaaa", { state: "passed" })] }), settings);
    assert.deepEqual(resolutions(actions), [{ id: requestId, state: "failed", run: null, reason }]);
    assert.equal(writes(actions)[0]?.fingerprint, "bbbb");
    assert.equal(writes(actions)[0]?.request, null);
  });

  test("a request whose commit cannot be looked at yet stays pending; the loop goes on", () => {
    const active = run("4", "aaaa");
    const actions = decideActions(observed({ desired: desired("aaaa"), request: { id: requestId, unusable: null }, runs: [active], seen: { [attemptKey("4", 1)]: { alive: true, result: null } } }), settings);
    assert.deepEqual(actions, []);
  });

  test("a request a run already answers (stopped before resolving it) is resolved, not run twice", () => {
    const answered = run("4", "bbbb", { state: "running", request: requestId });
    const actions = decideActions(
      observed({ desired: desired("bbbb", { request: requestId, force: true }), request: { id: requestId, unusable: null }, runs: [run("3", "aaaa", { state: "passed" }), answered], seen: { [attemptKey("4", 1)]: { alive: true, result: null } } }),
      settings,
    );
    assert.deepEqual(writes(actions), []);
    assert.deepEqual(resolutions(actions), [{ id: requestId, state: "started", run: "4", reason: "run 4 was created for it" }]);
  });

  test("a request waits while another run is active (queue), and supersedes it (supersede)", () => {
    const active = run("4", "aaaa");
    const seen = { [attemptKey("4", 1)]: { alive: true, result: null } };
    const queued = decideActions(observed({ desired: desired("bbbb", { request: requestId }), request: { id: requestId, unusable: null }, runs: [active], seen }), settings);
    assert.deepEqual(resolutions(queued), []);
    assert.deepEqual(writes(queued), []);
    const superseding = decideActions(observed({ desired: desired("bbbb", { request: requestId }), request: { id: requestId, unusable: null }, runs: [active], seen }), { ...settings, onNewCommit: "supersede" });
    assert.equal(writes(superseding)[0]?.state, "superseded");
    assert.deepEqual(resolutions(superseding), [], "the request is acted on once the superseded run has ended");
  });
});

describe("decide: attempts", () => {
  test("a pending attempt is launched when a slot is free, and waits when not", () => {
    const pending = run("2", "bbbb", { attempts: [attempt(1, { state: "pending", executions: 0, process: null, startedAt: null })] });
    assert.deepEqual(decideActions(observed({ runs: [pending] }), settings), [{ type: "launch", runId: "2", attempt: 1 }]);
    const busy = run("1", "aaaa", { state: "superseded", attempts: [attempt(1)] });
    assert.deepEqual(decideActions(observed({ runs: [busy, pending] }), settings), []);
  });

  test("a running attempt with a live process is left alone", () => {
    assert.deepEqual(decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: true, result: null } } }), settings), []);
  });

  test("a passing result promotes: the run is promoting with the gate's reason", () => {
    const actions = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: result(0.97) } } }), settings);
    const [promoting] = writes(actions);
    assert.equal(promoting?.state, "promoting");
    assert.equal(promoting?.attempts[0]?.state, "finished");
    assert.equal(promoting?.attempts[0]?.gate?.pass, true);
    assert.equal(promoting?.promotion?.attempt, 1);
    assert.equal(promoting?.promotion?.version, null);
  });

  test("an underfitting attempt plans attempt 2 with more epochs and a recorded reason", () => {
    const actions = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: result(0.4, null, 0.45) } } }), settings);
    const [next] = writes(actions);
    assert.equal(next?.state, "running");
    assert.equal(next?.attempts[0]?.gate?.verdict, "absolute");
    const second = next?.attempts[1];
    assert.equal(second?.state, "pending");
    assert.equal(second?.hyperparameters.epochs, 15);
    assert.equal(second?.diagnosis, "underfitting");
    assert.match(second?.reason ?? "", /attempt 1 was underfitting .* attempt 2 tries 3x the epochs/);
  });

  test("a regression against the deployed model fails the gate", () => {
    const actions = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: result(0.92, { version: "v3", accuracy: 0.99 }) } } }), settings);
    assert.equal(writes(actions)[0]?.attempts[0]?.gate?.verdict, "regression");
  });

  test("a candidate that names strangers fails the gate with the reason in words, and the policy plans another attempt", () => {
    const openSet = { strangerRejection: 0.8, strangerPhotos: 50, measuredOn: "test" as const, knownRejection: 0.01, knownPhotos: 100, deployed: null };
    const accurate = result(0.97) as Extract<AttemptResult, { ok: true }>;
    const actions = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: { ...accurate, openSet } } } }), settings);
    const [next] = writes(actions);
    assert.equal(next?.attempts[0]?.gate?.pass, false);
    assert.equal(next?.attempts[0]?.gate?.verdict, "open-set");
    assert.match(next?.attempts[0]?.gate?.reason ?? "", /answers "unknown" for 80\.0% of 50 photos of held-out strangers, below the required 90\.0%/);
    assert.equal(next?.state, "running");
    assert.equal(next?.attempts[1]?.state, "pending");
    const passing = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: { ...accurate, openSet: { ...openSet, strangerRejection: 0.95 } } } } }), settings);
    assert.equal(writes(passing)[0]?.state, "promoting");
  });

  test("a candidate more accurate overall that loses one person fails the gate, and the run's record names the person", () => {
    const accurate = result(0.97) as Extract<AttemptResult, { ok: true }>;
    const deployed = { version: "v3", accuracy: 0.95, people: [{ person: "Alice", photos: 8, candidate: 0.5, deployed: 1 }, { person: "Bob", photos: 9, candidate: 1, deployed: 0.89 }] };
    const [next] = writes(decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: { ...accurate, deployed } } } }), settings));
    assert.equal(next?.attempts[0]?.gate?.pass, false);
    assert.equal(next?.attempts[0]?.gate?.verdict, "person-regression");
    assert.match(next?.attempts[0]?.gate?.reason ?? "", /^Alice's recall 50\.0% on 8 photos of theirs held out is more than 25\.0% below the deployed v3's 100\.0%/);
    assert.equal(next?.attempts[1]?.state, "pending", "the policy plans another attempt");
  });

  test("the last allowed attempt failing ends the run as failed, and nothing is promoted", () => {
    const done = [1, 2, 3].map((number) => attempt(number, { state: "finished", result: result(0.5), gate: { pass: false, verdict: "absolute", reason: "low" }, hyperparameters: { ...settings.initialHyperparameters, epochs: 5 * number } }));
    const last = run("1", "aaaa", { attempts: [...done, attempt(4, { hyperparameters: { ...settings.initialHyperparameters, epochs: 99 } })] });
    const actions = decideActions(observed({ runs: [last], seen: { "1/4": { alive: false, result: result(0.5) } } }), settings);
    assert.deepEqual(actions.map((action) => action.type), ["write-run"]);
    const [ended] = writes(actions);
    assert.equal(ended?.state, "failed");
    assert.match(ended?.reason ?? "", /all 4 attempts were spent without passing the gate; nothing was deployed/);
    assert.equal(ended?.promotion, null);
  });

  test("a crash retries the same hyperparameters; a permanent failure ends the run", () => {
    const crash: AttemptResult = { ok: false, error: "out of memory", permanent: false, durationSeconds: 3 };
    const [retry] = writes(decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: crash } } }), settings));
    assert.equal(retry?.attempts[0]?.state, "crashed");
    assert.deepEqual(retry?.attempts[1]?.hyperparameters, settings.initialHyperparameters);
    const permanent: AttemptResult = { ...crash, error: "the dataset changed", permanent: true };
    const [failed] = writes(decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: permanent } } }), settings));
    assert.equal(failed?.state, "failed");
    assert.match(failed?.reason ?? "", /retrying cannot fix: the dataset changed/);
  });

  test("a full disk (ENOSPC) is the machine's failure: the same attempt runs again after a doubling backoff, and no budget is spent", () => {
    const noSpace: AttemptResult = { ok: false, error: "ENOSPC: no space left on device, write", permanent: false, transient: true, durationSeconds: 3 };
    // Five in a row, more than maxCrashedAttempts and maxExecutions: the run never fails for them.
    let current = run("1", "aaaa");
    let now = t0 + 10_000;
    const waits: number[] = [];
    for (let failure = 1; failure <= 5; failure++) {
      const [retried] = writes(decideActions(observed({ now, runs: [current], seen: { "1/1": { alive: false, result: noSpace } } }), settings));
      assert.ok(retried, `failure ${failure}`);
      assert.equal(retried.state, "running");
      assert.equal(retried.attempts.length, 1, "the same attempt, no new one planned");
      const [again] = retried.attempts;
      assert.equal(again?.state, "pending");
      assert.equal(again?.transientFailures, failure);
      assert.match(again?.error ?? "", /ENOSPC.*a failure of the machine, not of the attempt: run again after \d+ s/);
      const notBefore = Date.parse(again?.notBefore ?? "");
      waits.push((notBefore - now) / 1000);
      // Not launched before its time; launched at it.
      assert.deepEqual(decideActions(observed({ now: notBefore - 1, runs: [retried] }), settings), []);
      assert.deepEqual(decideActions(observed({ now: notBefore, runs: [retried] }), settings), [{ type: "launch", runId: "1", attempt: 1 }]);
      current = { ...retried, attempts: [{ ...again, state: "running", executions: (again?.executions ?? 0) + 1, notBefore: null }] };
      now = notBefore + 5_000;
    }
    assert.deepEqual(waits, [30, 60, 120, 240, 480]);
    const capped = decideActions(observed({ now, runs: [current], seen: { "1/1": { alive: false, result: noSpace } } }), { ...settings, transientBackoff: { firstMs: 30_000, maxMs: 600_000 } });
    assert.equal(Date.parse(writes(capped)[0]?.attempts[0]?.notBefore ?? "") - now, 600_000);
  });

  test("an attempt that could not even write its result exits with 74: the same backoff, not a crash", () => {
    const [retried] = writes(decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: null, exitCode: 74 } } }), settings));
    assert.equal(retried?.attempts.length, 1);
    assert.equal(retried?.attempts[0]?.state, "pending");
    assert.match(retried?.attempts[0]?.error ?? "", /exited with code 74: the machine is out of disk, quota or files/);
  });

  test("executions after transient failures do not count against maxExecutions when a process is lost", () => {
    const flaky = run("1", "aaaa", { attempts: [attempt(1, { executions: 4, transientFailures: 2 })] });
    const [rerun] = writes(decideActions(observed({ runs: [flaky], seen: { "1/1": { alive: false, result: null } } }), settings));
    assert.equal(rerun?.attempts[0]?.state, "pending");
  });

  test("a lost process (controller restarted, attempt gone without a result) is re-run under the same number", () => {
    const actions = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: null } } }), settings);
    const [rerun] = writes(actions);
    assert.equal(rerun?.attempts.length, 1);
    assert.equal(rerun?.attempts[0]?.state, "pending");
    assert.equal(rerun?.attempts[0]?.executions, 1);
    assert.match(rerun?.attempts[0]?.error ?? "", /re-run under the same number/);
  });

  test("a process this controller saw exit without a result crashed (no re-run); code 75 (another process has it) is not a crash", () => {
    const [crashed] = writes(decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: false, result: null, exitCode: 1 } } }), settings));
    assert.equal(crashed?.attempts[0]?.state, "crashed");
    assert.match(crashed?.attempts[0]?.error ?? "", /exited with code 1 without a result; see runs\/1\/attempt-1\/attempt.log/);
    assert.deepEqual(crashed?.attempts[1]?.hyperparameters, settings.initialHyperparameters, "a crash retries the same hyperparameters");
    const busy = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: true, result: null, exitCode: 75 } } }), settings);
    assert.deepEqual(busy, []);
  });

  test("a just-launched attempt whose process is not visible yet is given the start grace", () => {
    const starting = run("1", "aaaa", { attempts: [attempt(1, { process: null })] });
    assert.deepEqual(decideActions(observed({ runs: [starting], seen: { "1/1": { alive: null, result: null } } }), settings), []);
    const late = observed({ runs: [starting], seen: { "1/1": { alive: null, result: null } }, now: t0 + 31_000 });
    assert.equal(writes(decideActions(late, settings))[0]?.attempts[0]?.state, "pending");
  });

  test("an attempt lost too often counts as crashed", () => {
    const flaky = run("1", "aaaa", { attempts: [attempt(1, { executions: 3 })] });
    const [next] = writes(decideActions(observed({ runs: [flaky], seen: { "1/1": { alive: false, result: null } } }), settings));
    assert.equal(next?.attempts[0]?.state, "crashed");
    assert.equal(next?.attempts[1]?.number, 2);
  });

  test("an attempt past its timeout is stopped and counts as crashed", () => {
    const actions = decideActions(observed({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: true, result: null } }, now: t0 + 601_000 }), settings);
    assert.equal(actions[0]?.type, "stop-attempt");
    assert.equal(writes(actions)[0]?.attempts[0]?.state, "timed-out");
  });
});

describe("decide: promotion and rollout", () => {
  const promoting = (version: string | null, startedAt = at(0)) =>
    run("1", "aaaa", {
      state: "promoting",
      attempts: [attempt(1, { state: "finished", result: result(0.97), gate: { pass: true, verdict: "passed", reason: "ok" } })],
      promotion: { attempt: 1, version, previous: "v1", state: "pending", startedAt, endedAt: null, reason: null },
    });
  const current = (version: string) => ({ version, previous: "v1", promotedAt: at(1), reason: "r" });

  test("promote until the pointer names the new version (idempotent after a restart)", () => {
    assert.deepEqual(decideActions(observed({ runs: [promoting(null)] }), settings), [{ type: "promote", runId: "1" }]);
    assert.deepEqual(decideActions(observed({ runs: [promoting("v2")], current: current("v1") }), settings), [{ type: "promote", runId: "1" }]);
  });

  test("the rollout waits for the server, then the run passes", () => {
    assert.deepEqual(decideActions(observed({ runs: [promoting("v2")], current: current("v2"), servedVersion: "v1" }), settings), []);
    const [passed] = writes(decideActions(observed({ runs: [promoting("v2")], current: current("v2"), servedVersion: "v2" }), settings));
    assert.equal(passed?.state, "passed");
    assert.equal(passed?.promotion?.state, "serving");
    assert.match(passed?.reason ?? "", /v2 is in service/);
  });

  test("a rollout not confirmed before the deadline is rolled back to the previous version", () => {
    const actions = decideActions(observed({ runs: [promoting("v2")], current: current("v2"), servedVersion: "v1", now: t0 + 61_000 }), settings);
    assert.deepEqual(actions[0], { type: "rollback", runId: "1", version: "v2", previous: "v1", reason: "v2 was not reported ready within 60 s; v1 serves again" });
    const [failed] = writes(actions);
    assert.equal(failed?.state, "failed");
    assert.equal(failed?.promotion?.state, "rolled-back");
  });
});

describe("decide: a bundle gone before it was promoted", () => {
  const passed = (version: string | null) =>
    run("1", "aaaa", {
      state: "promoting",
      attempts: [attempt(1, { state: "finished", result: result(0.97), gate: { pass: true, verdict: "passed", reason: "ok" } })],
      promotion: { attempt: 1, version, previous: "v1", state: "pending", startedAt: at(0), endedAt: null, reason: null },
    });
  const bundle = "/store/runs/1/attempt-1/bundle";

  test("the bundle still there is promoted", () => {
    assert.deepEqual(decideActions(observed({ runs: [passed(null)], promotionBundle: { present: true, location: bundle } }), settings), [{ type: "promote", runId: "1" }]);
  });

  test("a bundle removed by hand ends the run as failed with why, rather than promoting forever; nothing is rolled out", () => {
    for (const version of [null, "v2"]) {
      const actions = decideActions(observed({ runs: [passed(version)], current: { version: "v1", previous: null, promotedAt: at(0), reason: "r" }, promotionBundle: { present: false, location: bundle } }), settings);
      assert.deepEqual(actions.map((action) => action.type), ["write-run"], `version ${version}`);
      const [failed] = writes(actions);
      const reason = `the bundle of attempt 1 (${bundle}) is gone; nothing was deployed`;
      assert.equal(failed?.state, "failed");
      assert.equal(failed?.reason, reason);
      assert.deepEqual(failed?.promotion, { attempt: 1, version, previous: "v1", state: "rolled-back", startedAt: at(0), endedAt: at(10), reason });
      const [write] = actions;
      assert.deepEqual(write?.type === "write-run" ? write.events : null, [{ kind: "run-ended", outcome: "failed", attempts: 1, accuracy: null, at: t0 + 10_000 }]);
    }
  });
});

describe("decide: untrained since", () => {
  const deployed = (datasetFingerprint: string | null) => ({ version: "v1", datasetCommit: null, datasetFingerprint, accuracy: 0.95 });
  const untrained = (extra: Partial<Observed>) => decideActions(observed(extra), settings).filter((action) => action.type === "record-untrained-since");
  const last = run("1", "aaaa", { state: "passed" });

  test("nothing is said before the branch has been read", () => {
    assert.deepEqual(untrained({ runs: [last], deployed: deployed("aaaa") }), []);
  });

  test("a model trained on the branch tip: recorded as null once, then nothing more to record", () => {
    assert.deepEqual(untrained({ runs: [last], branchFingerprint: "aaaa", deployed: deployed("aaaa") }), [{ type: "record-untrained-since", record: null }]);
    assert.deepEqual(untrained({ runs: [last], branchFingerprint: "aaaa", deployed: deployed("aaaa"), untrainedRecord: null }), []);
  });

  test("new photos on the branch: dated now; a restart that reads the record keeps its time; another model in service dates it anew", () => {
    const seen = { runs: [last], branchFingerprint: "bbbb", deployed: deployed("aaaa") };
    assert.deepEqual(untrained(seen), [{ type: "record-untrained-since", record: { since: at(10), servedFingerprint: "aaaa" } }]);
    assert.deepEqual(untrained({ ...seen, untrainedRecord: { since: at(-3600), servedFingerprint: "aaaa" } }), [], "the recorded time stands");
    assert.deepEqual(untrained({ ...seen, untrainedRecord: { since: at(-3600), servedFingerprint: "cccc" } }), [{ type: "record-untrained-since", record: { since: at(10), servedFingerprint: "aaaa" } }]);
    assert.deepEqual(untrained({ runs: [], branchFingerprint: "bbbb", deployed: null }), [{ type: "record-untrained-since", record: { since: at(10), servedFingerprint: null } }], "no model at all");
  });

  test("it comes after the run's actions, which do not wait for it", () => {
    const actions = decideActions(observed({ desired: desired("bbbb"), branchFingerprint: "bbbb", runs: [last] }), settings);
    assert.deepEqual(actions.map((action) => action.type), ["write-run", "record-untrained-since"]);
  });
});

describe("decide: when to look again", () => {
  const requeue = (extra: Parameters<typeof observed>[0], using = settings) => decide(observed(extra), using).requeueAfterMs;

  test("without an active run, not until the next poll (or something wakes the loop)", () => {
    assert.equal(requeue({}), null);
    assert.equal(requeue({ runs: [run("1", "aaaa", { state: "passed" })] }), null);
  });

  test("an active run is looked at every activeIntervalMs (1 s unless set)", () => {
    assert.equal(requeue({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: true, result: null } } }), 1_000);
    assert.equal(requeue({ runs: [run("1", "aaaa")], seen: { "1/1": { alive: true, result: null } } }, { ...settings, activeIntervalMs: 250 }), 250);
    const promoting = run("1", "aaaa", { state: "promoting", promotion: { attempt: 1, version: "v2", previous: null, state: "pending", startedAt: at(0), endedAt: null, reason: null } });
    assert.equal(requeue({ runs: [promoting] }), 1_000);
  });

  test("an attempt waiting out a backoff is looked at exactly when it may start", () => {
    const waiting = run("1", "aaaa", { attempts: [attempt(1, { state: "pending", process: null, notBefore: at(40) })] });
    assert.equal(requeue({ runs: [waiting] }), 30_000);
    assert.equal(requeue({ runs: [waiting], now: t0 + 40_000 }), 1_000, "its time has come: launched, then looked at as usual");
  });
});

describe("decide: action identities", () => {
  test("the same action decided on two passes has the same key; different runs, attempts or requests differ", () => {
    const pending = run("2", "bbbb", { attempts: [attempt(1, { state: "pending", executions: 0, process: null, startedAt: null })] });
    const [first] = decideActions(observed({ runs: [pending] }), settings);
    const [again] = decideActions(observed({ runs: [pending], now: t0 + 20_000 }), settings);
    assert.ok(first && again);
    assert.equal(actionKey(first), actionKey(again));
    const keys = [
      actionKey({ type: "launch", runId: "2", attempt: 1 }),
      actionKey({ type: "launch", runId: "2", attempt: 2 }),
      actionKey({ type: "stop-attempt", runId: "2", attempt: 1, reason: "timeout" }),
      actionKey({ type: "promote", runId: "2" }),
      actionKey({ type: "promote", runId: "3" }),
      actionKey({ type: "rollback", runId: "2", version: "v4", previous: "v3", reason: "r" }),
      actionKey({ type: "resolve-request", requestId: "20261128T120000000Z-0a1b2c3d", state: "failed", runId: null, reason: "r" }),
      actionKey({ type: "write-run", run: pending, why: "w", events: [] }),
      actionKey({ type: "record-untrained-since", record: null }),
    ];
    assert.equal(new Set(keys).size, keys.length, keys.join(" | "));
  });
});
