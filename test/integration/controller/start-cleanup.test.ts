import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, test } from "node:test";
import { Registry } from "prom-client";
import { configSchema } from "../../../src/config/schema.js";
import { Controller } from "../../../src/controller/controller.js";
import { DatasetWatch } from "../../../src/dataset/watch.js";
import { writeRun, type RunRecord } from "../../../src/records/runs.js";
import { createLogger } from "../../../src/log.js";
import { createControllerMetrics } from "../../../src/metrics/controller-metrics.js";
import { processStartTime } from "../../../src/store/process-identity.js";
import type { ModelDeployer, TrainingExecutor } from "../../../src/platform/types.js";
import { RecordStore } from "../../../src/records/record-store.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { currentOwner, temporaryPath } from "../../../src/store/owner.js";
import { controllerSettings } from "../../helpers/controller-settings.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

/**
 * What a crash (kill -9 mid-write, mid-clone, mid-attempt) leaves in the store is cleaned when the
 * next controller starts, and the controller says what it removed.
 */

const idleExecutor: TrainingExecutor = {
  launch: () => Promise.resolve(null),
  inspect: () => Promise.resolve({ alive: null, result: null }),
  stop: () => Promise.resolve(),
  attemptsOnShutdown: "left running",
  shutdown: () => Promise.resolve(),
};
const idleDeployer: ModelDeployer = { rollout: () => Promise.resolve(), servedVersion: () => Promise.resolve(null), rollback: () => Promise.resolve() };

describe("a controller starting cleans what crashes left", () => {
  const folder = temporaryFolder("faceops-start-cleanup-");
  const faces = temporaryFolder("faceops-start-cleanup-faces-");
  const store = new StoreLayout(folder.path);
  after(() => {
    folder.dispose();
    faces.dispose();
  });

  test("temporary files of a writer that was killed, and the lock of its finished attempt, are removed and reported", async () => {
    // A writer of this machine that was killed (kill -9) in the middle of its writes.
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    const pid = child.pid as number;
    const startTime = await processStartTime(pid);
    const strays: string[] = [];
    const rename = (path: string) => path.replace(/\.(tmp|new|partial)-[0-9]+_[0-9x]+_/, (_match, kind: string) => `.${kind}-${pid}_${startTime}_`);
    for (const [target, kind] of [
      [store.runRecord("1"), "tmp"],
      [store.validationCache, "tmp"],
      [store.controllerLock, "new"],
      [store.sourceClone("https://git.example/faces.git"), "partial"],
    ] as const) {
      const stray = rename(await temporaryPath(target, kind));
      mkdirSync(dirname(stray), { recursive: true });
      writeFileSync(stray, "half of something");
      strays.push(stray);
    }
    const run: RunRecord = {
      schemaVersion: 1,
      id: "1",
      fingerprint: "f".repeat(64),
      commit: null,
      source: faces.path,
      trigger: "poll",
      createdAt: "2026-11-28T10:00:00.000Z",
      updatedAt: "2026-11-28T10:05:00.000Z",
      state: "failed",
      reason: "the attempt crashed",
      dataset: { photos: 0, train: 0, test: 0, labels: 0, rejected: [] },
      attempts: [],
      promotion: null,
    };
    await writeRun(store, { ...run, attempts: [{ number: 1, hyperparameters: controllerSettings().initialHyperparameters, diagnosis: null, reason: "configured", state: "crashed", executions: 1, process: null, startedAt: null, endedAt: null, result: null, gate: null, error: "killed", log: "" }] });
    const { scope } = await currentOwner();
    const attemptLock = store.attempt("1", 1).lock;
    mkdirSync(dirname(attemptLock), { recursive: true });
    writeFileSync(attemptLock, JSON.stringify({ pid, startTime, scope, acquiredAt: "2026-11-28T10:00:01.000Z", run: "1", attempt: 1 }));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    const lines = new PassThrough();
    let logged = "";
    lines.on("data", (chunk: Buffer) => (logged += chunk.toString()));
    const log = createLogger({ level: "info", format: "json", destination: lines });
    const controller = new Controller({
      store: new RecordStore(store),
      source: new DatasetWatch({ location: faces.path, branch: "main", dataset: configSchema.parse({}).dataset, store, log, env: process.env, credentials: {} }),
      executor: idleExecutor,
      deployer: idleDeployer,
      settings: controllerSettings(),
      metrics: createControllerMetrics(new Registry()),
      log,
      pollIntervalMs: 600_000,
    });
    await controller.start();
    await controller.stop();
    for (const stray of strays) assert.equal(existsSync(stray), false, stray);
    assert.equal(existsSync(attemptLock), false, "the lock of an attempt whose process is gone");
    assert.ok(existsSync(store.runRecord("1")));
    const report = logged.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { msg: string; removed?: string[] }).find((entry) => entry.removed);
    assert.ok(report, `no report of what was removed in:\n${logged}`);
    assert.match(report.msg, /removed 5 stale temporary or lock file/);
    assert.ok(report.removed?.includes(join("runs", "1", "attempt-1", "process.json")));
  });
});
