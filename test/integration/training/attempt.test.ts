import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { checkDataset } from "../../../src/dataset/check.js";
import { silentLogger } from "../../../src/log.js";
import { attemptExit, attemptPhaseNames, type AttemptResult } from "../../../src/records/attempt-result.js";
import { writeRun, type AttemptRecord, type RunRecord } from "../../../src/records/runs.js";
import { readJsonOr } from "../../../src/store/files.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { runAttempt } from "../../../src/training/attempt.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { configWith, faceRepo, fastVgg16 } from "../../helpers/training.js";

/**
 * `faceops attempt` in this process, on a real repository and store: what its result says of where
 * the time went (the phases a push-to-served benchmark reports) and of the memory it took.
 */
describe("an attempt's result: its phases, its features and its peak memory", { timeout: 300_000 }, () => {
  const repo = faceRepo(["Hans_Blix", "Serena_Williams"], 12);
  const folder = temporaryFolder("faceops-attempt-");
  const store = new StoreLayout(join(folder.path, "store"));
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  const attemptRecord = (number: number): AttemptRecord => ({
    number,
    hyperparameters: { epochs: 5, learningRate: 0.003, dropout: 0.5 },
    diagnosis: null,
    reason: "configured",
    state: "running",
    executions: 1,
    process: null,
    startedAt: null,
    endedAt: null,
    result: null,
    gate: null,
    error: null,
    log: "",
  });

  const attempt = async (number: number): Promise<AttemptResult> => {
    const config = await configWith({ store: store.root, "source.repo": repo.path, ...fastVgg16 });
    const log = silentLogger();
    const manifest = await checkDataset({ location: repo.path, dataset: config.dataset, store, log, env: process.env });
    const run: RunRecord = {
      schemaVersion: 1,
      id: "1",
      fingerprint: manifest.fingerprint,
      commit: manifest.commit,
      source: repo.path,
      trigger: "poll",
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      state: "running",
      reason: null,
      dataset: { photos: manifest.stats.photos, train: manifest.stats.train, test: manifest.stats.test, labels: manifest.labels.length, rejected: [] },
      attempts: Array.from({ length: number }, (_, index) => attemptRecord(index + 1)),
      promotion: null,
    };
    await writeRun(store, run);
    const exit = await runAttempt({ runId: "1", attempt: number, config, store, log, env: process.env, credentials: {} });
    assert.equal(exit, attemptExit.passed);
    const result = await readJsonOr<AttemptResult | null>(store.attempt("1", number).result, null);
    assert.ok(result?.ok, JSON.stringify(result));
    return result;
  };

  test("a cold attempt: every phase timed, the features computed, the process's peak memory", async () => {
    const rssBefore = process.memoryUsage().rss;
    const startedAt = performance.now();
    const result = await attempt(1);
    const wallSeconds = performance.now() / 1000;
    assert.ok(result.ok);
    const phases = result.phases;
    assert.ok(phases, "the result records its phases");
    assert.deepEqual(Object.keys(phases), [...attemptPhaseNames]);
    for (const name of attemptPhaseNames) assert.ok(Number.isFinite(phases[name]) && phases[name] >= 0, `${name}: ${phases[name]}`);
    // The work the attempt measured itself: every phase but startup, which is this process's life before it.
    const worked = attemptPhaseNames.filter((name) => name !== "startup").reduce((sum, name) => sum + phases[name], 0);
    assert.ok(worked <= result.durationSeconds + 0.05, `phases after startup (${worked} s) fit in the attempt's ${result.durationSeconds} s`);
    assert.ok(worked >= result.durationSeconds * 0.9, `and cover it: ${worked} of ${result.durationSeconds} s`);
    // performance.now() counts from this test process's start: startup is what came before runAttempt.
    assert.ok(phases.startup >= startedAt / 1000 - 0.05 && phases.startup <= wallSeconds, `startup ${phases.startup} s`);
    assert.ok(phases.features > 0 && phases.head > 0 && phases.bundle > 0, JSON.stringify(phases));
    assert.equal(result.features?.cached, 0, "a cold store has no features");
    assert.equal(result.features?.computed, result.forwardPasses);
    assert.ok((result.peakRssBytes ?? 0) >= rssBefore, `the peak (${result.peakRssBytes}) is at least the memory held before (${rssBefore})`);
  });

  test("the same photos again: every vector read from the feature cache, none computed", async () => {
    const result = await attempt(2);
    assert.ok(result.ok);
    assert.equal(result.features?.computed, 0);
    assert.ok((result.features?.cached ?? 0) > 0);
    assert.ok(result.phases && result.phases.features >= 0 && result.phases.gate > 0, JSON.stringify(result.phases));
  });
});
