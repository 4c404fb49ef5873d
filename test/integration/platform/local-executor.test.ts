import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { silentLogger } from "../../../src/log.js";
import { LocalExecutor } from "../../../src/platform/local/executor.js";
import type { TrainingExecutor } from "../../../src/platform/types.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { isAlive } from "../../../src/store/process-identity.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

/**
 * What becomes of attempts when the controller shuts down is each platform's rule, stated by
 * attemptsOnShutdown: on one machine they are stopped (the Kubernetes rule, Jobs left running and
 * adopted, is shown by test/platform/kubernetes.test.ts's restart test).
 */
describe("the local executor on shutdown", () => {
  const folder = temporaryFolder("faceops-local-executor-");
  after(() => folder.dispose());

  test("says it stops the attempts, and does: the process it started is gone when shutdown resolves", async () => {
    // An "attempt" that would run for a minute; "--" keeps the arguments the executor appends from node's own options.
    const executor: TrainingExecutor = new LocalExecutor({
      store: new StoreLayout(folder.path),
      command: [process.execPath, "-e", "setTimeout(() => {}, 60_000)", "--"],
      env: process.env,
      log: silentLogger(),
      stopGraceMs: 5_000,
    });
    assert.equal(executor.attemptsOnShutdown, "stopped");
    const started = await executor.launch("1", 1);
    assert.ok(started);
    assert.equal(await isAlive(started), true);
    await executor.shutdown();
    assert.equal(await isAlive(started), false);
  });
});
