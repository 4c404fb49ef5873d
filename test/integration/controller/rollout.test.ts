import assert from "node:assert/strict";
import { cp, readFile, writeFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { Controller } from "../../../src/controller/controller.js";
import { DatasetWatch } from "../../../src/dataset/watch.js";
import { readRun, writeRun, type RunRecord } from "../../../src/records/runs.js";
import { silentLogger } from "../../../src/log.js";
import { createControllerMetrics, type ControllerMetrics } from "../../../src/metrics/controller-metrics.js";
import { createServeMetrics } from "../../../src/metrics/serve-metrics.js";
import { LocalDeployer } from "../../../src/platform/local/deployer.js";
import { LocalExecutor } from "../../../src/platform/local/executor.js";
import { ModelSlot } from "../../../src/serve/model-slot.js";
import { StoreFollower } from "../../../src/serve/model-source.js";
import { RecordStore } from "../../../src/records/record-store.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { pointCurrentModel, readCurrentModel } from "../../../src/store/models.js";
import { controllerSettings } from "../../helpers/controller-settings.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { waitFor } from "../../helpers/wait.js";
import { temporaryFolder, type TestRepo } from "../../helpers/git-repo.js";
import { faceRepo, fastVgg16, join, trainBundle, type TrainedBundle } from "../../helpers/training.js";

/**
 * Promotion and rollout with the real pieces of `faceops up` (store, controller, local deployer,
 * store follower, model slot), starting from records as a crashed controller would leave them.
 */

const settings = controllerSettings({ policy: { maxAttempts: 4, maxCrashedAttempts: 2, minAccuracy: 0.5 }, gate: { minAccuracy: 0.5, maxRegression: 0.01 }, rolloutDeadlineMs: 3_000 });

describe("promotion and rollout", { timeout: 300_000 }, () => {
  let repo: TestRepo;
  let v1: TrainedBundle;
  const folder = temporaryFolder("faceops-rollout-");
  const store = new StoreLayout(folder.path);
  const log = silentLogger();

  before(async () => {
    repo = faceRepo(["Ariel_Sharon", "Hugo_Chavez"], 12);
    v1 = await trainBundle(repo.path, store, fastVgg16, store.modelVersion("v1"));
    await pointCurrentModel(store, "v1", "the first version");
  });
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  /** A run as a controller killed mid-promotion leaves it: attempt 1 passed, its bundle in the attempt folder. */
  async function promotingRun(id: string, version: string | null): Promise<RunRecord> {
    const bundle = store.attempt(id, 1).bundle;
    await cp(store.modelVersion("v1"), bundle, { recursive: true });
    const at = new Date().toISOString();
    const run: RunRecord = {
      schemaVersion: 1,
      id,
      fingerprint: v1.metadata.dataset.fingerprint,
      commit: v1.metadata.dataset.commit,
      source: repo.path,
      trigger: "poll",
      createdAt: at,
      updatedAt: at,
      state: "promoting",
      reason: "attempt 1 passed the gate",
      dataset: { photos: 24, train: v1.train, test: v1.test, labels: 2, rejected: [] },
      attempts: [
        {
          number: 1,
          hyperparameters: settings.initialHyperparameters,
          diagnosis: null,
          reason: "configured",
          state: "finished",
          executions: 1,
          process: null,
          startedAt: at,
          endedAt: at,
          result: null,
          gate: { pass: true, verdict: "passed", reason: "good" },
          error: null,
          log: "",
        },
      ],
      promotion: { attempt: 1, version, previous: (await readCurrentModel(store))?.version ?? null, state: "pending", startedAt: at, endedAt: null, reason: null },
    };
    await writeRun(store, run);
    return run;
  }

  async function withUp<T>(use: (slot: ModelSlot) => Promise<T>, controllerMetrics = createControllerMetrics(new Registry())): Promise<T> {
    const metrics = createServeMetrics(new Registry(), { defaultMetrics: false });
    const slot = new ModelSlot({ maxBatch: 4, maxDelayMs: 0 }, metrics, log);
    const follower = new StoreFollower({ store, slot, metrics, config: v1.config, log, checkIntervalMs: 200 });
    await follower.start();
    const deployer = new LocalDeployer(store, async () => {
      await follower.check();
      return slot.model?.version ?? null;
    });
    const controller = new Controller({
      store: new RecordStore(store),
      source: new DatasetWatch({ location: repo.path, branch: "main", dataset: v1.config.dataset, store, log, env: process.env, credentials: {} }),
      executor: new LocalExecutor({ store, command: [process.execPath, "-e", "process.exit(3)"], env: process.env, log }),
      deployer,
      settings: { ...settings, activeIntervalMs: 100 },
      metrics: controllerMetrics,
      log,
      pollIntervalMs: 60_000,
    });
    await controller.start();
    try {
      return await use(slot);
    } finally {
      await controller.stop();
      await follower.stop();
      await slot.close();
    }
  }

  test("a promotion interrupted after the version was allocated is finished by the next controller", async () => {
    await promotingRun("1", "v2");
    await withUp(async (slot) => {
      const run = await waitFor("run 1 to pass", async () => ((await readRun(store, "1"))?.state === "passed" ? readRun(store, "1") : undefined), 60_000);
      assert.equal(run?.promotion?.state, "serving");
      assert.equal((await readCurrentModel(store))?.version, "v2");
      assert.equal(slot.model?.version, "v2");
    });
  });

  test("a version the server cannot load is rolled back after the deadline, with the reason recorded", async () => {
    await promotingRun("2", null);
    // The bundle breaks on the way (a flipped byte in its weights): the server refuses it.
    const weights = join(store.attempt("2", 1).bundle, "head", "weights.bin");
    const bytes = await readFile(weights);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await writeFile(weights, bytes);
    await withUp(async (slot) => {
      const run = await waitFor("run 2 to end", async () => ((await readRun(store, "2"))?.state === "failed" ? readRun(store, "2") : undefined), 60_000);
      assert.equal(run?.promotion?.version, "v3");
      assert.equal(run?.promotion?.state, "rolled-back");
      assert.match(run?.reason ?? "", /rollout failed: v3 was not reported ready within 3 s; v2 serves again/);
      const current = await readCurrentModel(store);
      assert.equal(current?.version, "v2");
      assert.match(current?.reason ?? "", /rollback from v3/);
      assert.equal(slot.model?.version, "v2", "the old version kept serving throughout");
    });
  });

  test("how long photos have waited for training: 0 while the model in service is up to date; kept across a controller restart", async () => {
    const untrainedSince = async (metrics: ControllerMetrics) => (await metrics.datasetUntrainedSince.get()).values[0]?.value ?? 0;
    const waitUntrained = (metrics: ControllerMetrics) => waitFor("the controller to see untrained photos", async () => ((await untrainedSince(metrics)) > 0 ? untrainedSince(metrics) : undefined), 60_000);
    const upToDate = createControllerMetrics(new Registry());
    await withUp(async () => {
      await waitFor("the controller to look at the branch", async () => ((await readFile(store.untrainedSince, "utf8").catch(() => "")) === "null\n" ? true : undefined), 60_000);
      assert.equal(await untrainedSince(upToDate), 0, "v2 was trained on the branch tip");
    }, upToDate);

    repo.copy(lfwPhotos("Hugo_Chavez")[12] as string, "Hugo_Chavez/new.jpg");
    repo.commit("One more photo of Hugo Chavez");
    const first = createControllerMetrics(new Registry());
    const seen = await withUp(() => waitUntrained(first), first);
    assert.ok(seen > Date.now() / 1000 - 120);
    await new Promise((done) => setTimeout(done, 1100));
    const restarted = createControllerMetrics(new Registry());
    assert.equal(await withUp(() => waitUntrained(restarted), restarted), seen, "the restarted controller keeps the first time");
  });
});
