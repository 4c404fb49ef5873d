import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { runProcess } from "../../helpers/process.js";

/*
 * onnxruntime aborts the whole process ("terminate called after throwing an instance of
 * 'Napi::Error'", exit code 134) when the thread running one of its sessions is terminated in the
 * middle of a run: `faceops serve` stopped under load did, once the face-embedding network ran on
 * onnxruntime in the face-path workers. The pool now ends a busy thread only once its task has
 * returned (src/model/workers/pool.ts, terminate).
 */
test("face-path workers disposed while onnxruntime runs batches end cleanly: the process is not aborted", async () => {
  const script = fileURLToPath(new URL("./fixtures/shutdown-under-load.ts", import.meta.url));
  for (let round = 1; round <= 3; round++) {
    const result = await runProcess(process.execPath, ["--import", import.meta.resolve("tsx"), script], { timeoutMs: 120_000 });
    assert.equal(result.status, 0, `round ${round}: exit ${String(result.status)}; stderr: ${result.stderr.slice(-500)}`);
    assert.match(result.stdout, /ended/);
    assert.doesNotMatch(result.stderr, /Napi::Error/);
  }
});
