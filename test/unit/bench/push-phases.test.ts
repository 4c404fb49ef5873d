import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chooseHeldOut, pushBreakdown, pushPlan, type DatasetPerson } from "../../../bench/push-phases.js";
import type { AttemptPhases, AttemptResult } from "../../../src/records/attempt-result.js";
import type { AttemptRecord, RunRecord } from "../../../src/records/runs.js";

/** The push benchmark's arithmetic: who is held out, and a push's seconds split into phases that add up. */

const person = (name: string, photos: number): DatasetPerson => ({ name, photos: Array.from({ length: photos }, (_, index) => `/lfw/${name}/${name}_${String(index + 1).padStart(4, "0")}.jpg`) });

const phases: AttemptPhases = { startup: 1.5, runtime: 2, dataset: 0.5, features: 4, head: 1, gate: 0.25, bundle: 0.25 };
const result: AttemptResult = {
  ok: true, accuracy: 1, balancedAccuracy: 1, testPhotos: 10, labels: 3, curves: [], deployed: null, forwardPasses: 46,
  durationSeconds: 8, engine: "tfjs-wasm", backbone: "face-embedding-mirrored", phases, features: { cached: 400, computed: 46 }, peakRssBytes: 2 ** 29,
};
const attempt = (number: number, startedAt: string, ok: boolean): AttemptRecord => ({
  number, hyperparameters: { epochs: 5, learningRate: 0.001, dropout: 0.5 }, diagnosis: null, reason: "configured", state: "finished",
  executions: 1, process: null, startedAt, endedAt: null, result: ok ? result : { ok: false, error: "refused", permanent: false, durationSeconds: 3 },
  gate: null, error: null, log: "",
});
const run = (attempts: AttemptRecord[], promoted: number | null): RunRecord => ({
  schemaVersion: 1, id: "2", fingerprint: "f".repeat(64), commit: "c".repeat(40), source: "/faces", trigger: "webhook",
  createdAt: "2026-01-01T00:00:00.400Z", updatedAt: "2026-01-01T00:00:20.000Z", state: "passed", reason: null,
  dataset: { photos: 120, train: 96, test: 24, labels: 3, rejected: [] }, attempts,
  promotion: promoted === null ? null : { attempt: promoted, version: "v2", previous: "v1", state: "serving", startedAt: "2026-01-01T00:00:11.000Z", endedAt: "2026-01-01T00:00:12.000Z", reason: null },
});
const pushedAt = Date.parse("2026-01-01T00:00:00.000Z");

describe("the push benchmark's held-out people", () => {
  const people = [person("Few_Photos", 11), person("Ann_A", 12), person("Bob_B", 20), person("Cat_C", 30), person("Many_Photos", 31), person("Dan_D", 15)];

  test("only people with 12 to 30 photos, the same ones whatever order the dataset lists them in", () => {
    const chosen = chooseHeldOut(people, 2).map((entry) => entry.name);
    assert.equal(chosen.length, 2);
    for (const name of chosen) assert.ok(["Ann_A", "Bob_B", "Cat_C", "Dan_D"].includes(name), name);
    assert.deepEqual(chooseHeldOut([...people].reverse(), 2).map((entry) => entry.name), chosen);
    assert.equal(chooseHeldOut(people, 4).length, 4);
  });

  test("too few such people is an error saying how many there are", () => {
    assert.throws(() => chooseHeldOut(people, 5), /needs 5 people with 12 to 30 photos, the dataset has 4/);
  });

  test("a push commits the first 10 photos and names the 11th, which is not committed", () => {
    const plan = pushPlan(person("Ann_A", 12));
    assert.equal(plan.committed.length, 10);
    assert.match(plan.probe, /Ann_A_0011\.jpg$/);
    assert.ok(!plan.committed.includes(plan.probe));
    assert.throws(() => pushPlan(person("Few_Photos", 10)), /Few_Photos has 10 photos; a push needs 11/);
  });
});

describe("a push's phases", () => {
  test("one attempt: notice to its launch, its own phases, the controller's share in the gate, rollout to the answer; they add up to the whole", () => {
    // Launched 0.6 s after the push; the gate's decision 11 s after it (10.4 s after the launch, of which 9.5 s timed in the process).
    const breakdown = pushBreakdown({ pushedAt, servedAt: pushedAt + 13_500, run: run([attempt(1, "2026-01-01T00:00:00.600Z", true)], 1) });
    const seconds = Object.fromEntries(breakdown.phases.map(({ phase, seconds: value }) => [phase, value]));
    assert.deepEqual(Object.keys(seconds), ["notice", "startup", "dataset", "features", "head", "gate", "rollout"]);
    assert.equal(seconds.notice, 0.6);
    assert.equal(seconds.startup, 3.5);
    assert.equal(seconds.features, 4);
    assert.ok(Math.abs((seconds.gate as number) - (0.5 + 0.9)) < 1e-9, `bundle and gate in the process, 0.9 s the controller's: ${seconds.gate}`);
    assert.equal(seconds.rollout, 2.5);
    const total = breakdown.phases.reduce((sum, { seconds: value }) => sum + value, 0);
    assert.ok(Math.abs(total - 13.5) < 1e-9, `the phases add up to the 13.5 s of the push: ${total}`);
    assert.ok(Math.abs(breakdown.trainingSeconds - 10.4) < 1e-9);
    assert.equal(breakdown.attempt.number, 1);
  });

  test("an attempt the gate refused first: its time is the retries phase, and the passing attempt's phases follow", () => {
    const breakdown = pushBreakdown({
      pushedAt,
      servedAt: pushedAt + 13_500,
      run: run([attempt(1, "2026-01-01T00:00:00.100Z", false), attempt(2, "2026-01-01T00:00:00.600Z", true)], 2),
    });
    const seconds = Object.fromEntries(breakdown.phases.map(({ phase, seconds: value }) => [phase, value]));
    assert.equal(seconds.notice, 0.1);
    assert.equal(seconds.retries, 0.5);
    assert.equal(breakdown.attempt.number, 2);
    assert.ok(Math.abs(breakdown.phases.reduce((sum, { seconds: value }) => sum + value, 0) - 13.5) < 1e-9);
    assert.ok(Math.abs(breakdown.trainingSeconds - 10.9) < 1e-9);
  });

  test("a run without a promotion, or a result without phases, is an error that says which", () => {
    assert.throws(() => pushBreakdown({ pushedAt, servedAt: pushedAt, run: { ...run([attempt(1, "2026-01-01T00:00:00.600Z", true)], null), state: "failed", reason: "the gate refused" } }), /run 2 has no promotion: it is failed \(the gate refused\)/);
    const old = attempt(1, "2026-01-01T00:00:00.600Z", true);
    const withoutPhases: AttemptRecord = { ...old, result: { ...result, phases: undefined } };
    assert.throws(() => pushBreakdown({ pushedAt, servedAt: pushedAt, run: run([withoutPhases], 1) }), /attempt 1's result records no phases/);
  });
});
