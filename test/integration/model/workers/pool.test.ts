import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Writable } from "node:stream";
import { pino } from "pino";
import { silentLogger } from "../../../../src/log.js";
import { runningWorkerThreads, WorkerExitedError, WorkerPool, WorkerPoolBrokenError, WorkerPoolClosedError } from "../../../../src/model/workers/pool.js";
import { reviveError, serialiseError, transferable } from "../../../../src/model/workers/messages.js";
import { ImageDecodeError } from "../../../../src/vision/decode.js";
import { temporaryFolder } from "../../../helpers/git-repo.js";
import type { FixtureInfo, FixtureInit, FixtureTasks } from "./fixture-worker.js";

/**
 * The generic worker pool with a fixture worker module: tasks run on the workers, errors come back
 * as their own classes with their codes, a worker that dies fails only its own task and is replaced,
 * and terminate leaves no thread behind.
 */

const entry = new URL("./fixture-worker.ts", import.meta.url);
const revivers = { ImageDecodeError: (error: { code?: string | number; message: string }, options: ErrorOptions) => new ImageDecodeError(error.code as "corrupt", error.message, options) };

function startPool(size: number, init: FixtureInit = {}, log = silentLogger(), youngGenerationMb?: number) {
  return WorkerPool.start<FixtureInit, FixtureInfo, FixtureTasks>({ name: "fixture", entry, size, init, log, revivers, youngGenerationMb });
}

/** The promise's error (or a failure if it resolves), with the handler attached at once so no rejection goes unhandled. */
function failureOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => assert.fail("the task should have failed"),
    (error: unknown) => error as Error,
  );
}

/** Threads of this process, from the kernel. */
function threadCount(): number {
  return readdirSync("/proc/self/task").length;
}

describe("worker pool", () => {
  const folder = temporaryFolder();
  after(() => folder.dispose());

  test("tasks run on the workers, spread over them, and results travel back (typed arrays moved)", async () => {
    const pool = await startPool(2);
    try {
      assert.equal(pool.size, 2);
      assert.equal(typeof pool.info.threadId, "number");
      const answers = await Promise.all(Array.from({ length: 6 }, (_, index) => pool.run("wait", { ms: 30, value: `task ${index}` })));
      assert.deepEqual(
        answers.map((answer) => answer.value),
        Array.from({ length: 6 }, (_, index) => `task ${index}`),
      );
      assert.equal(new Set(answers.map((answer) => answer.threadId)).size, 2, "both workers ran tasks");
      assert.ok(!answers.some((answer) => answer.threadId === 0), "no task ran on the main thread");

      const values = Float32Array.of(1, 2, 3);
      const sent = transferable(values);
      const { values: doubled } = await pool.run("double", { values: sent.view }, [sent.transfer]);
      assert.deepEqual(Array.from(doubled), [2, 4, 6]);
      assert.equal(values.length, 0, "the request's buffer was moved to the worker, not copied");
    } finally {
      await pool.terminate();
    }
  });

  test("a task's error comes back as its own class, with its code, message and cause; the worker carries on", async () => {
    const pool = await startPool(1);
    try {
      const error = await failureOf(pool.run("decodeError", { code: "too_large" }));
      assert.ok(error instanceof ImageDecodeError, `an ImageDecodeError, received ${String(error)}`);
      assert.equal(error.code, "too_large");
      assert.equal(error.message, "a too_large photo");
      assert.ok(error.cause instanceof TypeError);
      assert.match(error.stack ?? "", /fixture-worker/, "the stack says where in the worker it failed");
      assert.equal((await pool.run("echo", { value: "still here" })).value, "still here");
    } finally {
      await pool.terminate();
    }
  });

  for (const how of ["throw", "exit"] as const) {
    test(`a worker that dies (${how}) fails its own task with a clear error and is replaced; waiting tasks still run`, async () => {
      const lines: string[] = [];
      const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString("utf8")), done()) }));
      const pool = await startPool(1, {}, log);
      try {
        const first = (await pool.run("echo", { value: "before" })).threadId;
        const crashed = pool.run("crash", { how });
        const waiting = pool.run("echo", { value: "after" });
        await assert.rejects(crashed, (error: Error) => {
          assert.ok(error instanceof WorkerExitedError, `a WorkerExitedError, received ${error.name}`);
          assert.match(error.message, /fixture worker 0 stopped \(.+\) while running a crash task; the task was not completed/);
          if (how === "throw") assert.match(error.message, /the worker broke/);
          else assert.match(error.message, /exit code 3/);
          return true;
        });
        const answer = await waiting;
        assert.equal(answer.value, "after");
        assert.notEqual(answer.threadId, first, "a new thread answered");
        assert.equal(pool.alive, 1);
        assert.equal(pool.threadIds.length, 2);
        assert.ok(lines.some((line) => /"msg":"a fixture worker stopped; starting a replacement"/.test(line)), "the crash is logged");
        assert.equal(lines.filter((line) => /"msg":"fixture worker ready"/.test(line) && /"worker":0/.test(line)).length, 2, "the workers' own log lines reach this logger, with their number");
      } finally {
        await pool.terminate();
      }
    });
  }

  test("when no worker can be replaced, waiting and later tasks fail at once instead of hanging", async () => {
    const flag = join(folder.path, "no-more-workers");
    const pool = await startPool(1, { failWhileExists: flag });
    try {
      writeFileSync(flag, "");
      const crashed = failureOf(pool.run("crash", { how: "exit" }));
      const waiting = failureOf(pool.run("echo", { value: "never" }));
      assert.ok((await crashed) instanceof WorkerExitedError);
      const error = await waiting;
      assert.ok(error instanceof WorkerPoolBrokenError && /no fixture worker is left/.test(error.message), String(error));
      await assert.rejects(pool.run("echo", { value: "later" }), WorkerPoolBrokenError);
      assert.equal(pool.alive, 0);
    } finally {
      await pool.terminate();
    }
  });

  test("a worker that cannot start fails the pool's start with its error, and leaves no thread", async () => {
    const baseline = threadCount();
    await assert.rejects(startPool(2, { failWith: "no weights here" }), (error: Error) => error instanceof RangeError && error.message === "no weights here");
    assert.equal(threadCount(), baseline, "every thread started was ended");
  });

  test("terminate fails what waits at once, ends every thread once its running task returned (replacements included), and refuses later tasks", async () => {
    // A first pool warms up whatever threads the process starts lazily, so the count below is the pool's own.
    await (await startPool(1)).terminate();
    const baseline = threadCount();
    const pool = await startPool(3);
    await assert.rejects(pool.run("crash", { how: "exit" }), WorkerExitedError);
    await pool.run("echo", { value: "the replacement is ready" });
    assert.ok(threadCount() >= baseline + 3, `three workers run (threads: ${threadCount()}, before: ${baseline})`);
    assert.equal(runningWorkerThreads(), 3);
    const started = performance.now();
    const answered: number[] = [];
    const running = [0, 1].map(() => failureOf(pool.run("wait", { ms: 800, value: "cut short" })).finally(() => answered.push(performance.now() - started)));
    const queued = Array.from({ length: 3 }, () => failureOf(pool.run("echo", { value: "never sent" })));
    // The tasks run for 800 ms: their callers are answered at once, but their threads are ended only
    // once the tasks have returned (a native engine cut off mid-run aborts the process).
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pool.terminate();
    const ended = performance.now() - started;
    for (const error of await Promise.all([...running, ...queued])) assert.ok(error instanceof WorkerPoolClosedError, String(error));
    assert.ok(answered.every((ms) => ms < 700), `the callers were answered at once (${answered.map(Math.round).join(", ")} ms)`);
    assert.ok(ended >= 750, `terminate waited for the running tasks to return (${Math.round(ended)} ms)`);
    await assert.rejects(pool.run("echo", { value: "too late" }), WorkerPoolClosedError);
    assert.equal(pool.alive, 0);
    assert.equal(pool.threadIds.length, 4);
    assert.equal(runningWorkerThreads(), 0, "every thread started has exited");
    assert.equal(threadCount(), baseline, "no thread is left");
  });

  test("a young-generation limit reaches every worker, replacements included; none leaves V8's default; a limit out of range is refused", async () => {
    const limited = await startPool(2, {}, silentLogger(), 8);
    try {
      assert.equal(limited.info.youngGenerationMb, 8);
      const before = await Promise.all([limited.run("youngGeneration", { ms: 50 }), limited.run("youngGeneration", { ms: 50 })]);
      await failureOf(limited.run("crash", { how: "exit" }));
      // The replacement starts in the background: ask in pairs until a thread not seen before answers.
      const seen = new Set(before.map((answer) => answer.threadId));
      const after: Array<(typeof before)[number]> = [];
      for (let round = 0; round < 100 && !after.some((answer) => !seen.has(answer.threadId)); round++) {
        after.push(...(await Promise.all([limited.run("youngGeneration", { ms: 50 }), limited.run("youngGeneration", { ms: 50 })])));
      }
      assert.ok(after.some((answer) => !seen.has(answer.threadId)), "a replacement worker answered");
      assert.ok([...before, ...after].every((answer) => answer.youngGenerationMb === 8));
    } finally {
      await limited.terminate();
    }
    const unlimited = await startPool(1);
    try {
      assert.notEqual(unlimited.info.youngGenerationMb, 8, "without the option, V8 sizes the young generation itself");
    } finally {
      await unlimited.terminate();
    }
    await assert.rejects(startPool(1, {}, silentLogger(), 0), /young generation takes 1\.\.1024 MB, received 0/);
    assert.equal(runningWorkerThreads(), 0);
  });

  test("errors as data: class name, code and cause survive; unknown classes keep their name", () => {
    const original = new ImageDecodeError("corrupt", "damaged", { cause: new RangeError("deep") });
    const revived = reviveError(serialiseError(original), revivers);
    assert.ok(revived instanceof ImageDecodeError);
    assert.equal(revived.code, "corrupt");
    assert.ok(revived.cause instanceof RangeError);
    class OddError extends Error {
      override readonly name = "OddError";
      readonly code = "ODD";
    }
    const odd = reviveError(serialiseError(new OddError("strange")));
    assert.equal(odd.name, "OddError");
    assert.equal((odd as { code?: string }).code, "ODD");
    assert.equal(reviveError(serialiseError("a string thrown")).message, "a string thrown");
  });

  test("transferable: a view that owns its buffer is moved as is; a view into a larger buffer is copied first", () => {
    const whole = new Uint8Array(8);
    assert.equal(transferable(whole).moved, true);
    const pooled = Buffer.from("small");
    const sent = transferable(pooled);
    assert.equal(sent.moved, false);
    assert.notEqual(sent.transfer, pooled.buffer);
    assert.deepEqual(Buffer.from(sent.view), pooled);
  });
});
