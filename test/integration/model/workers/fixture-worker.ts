import { existsSync } from "node:fs";
import { resourceLimits, threadId } from "node:worker_threads";
import { hostTasks } from "../../../../src/model/workers/task-host.js";
import { ImageDecodeError } from "../../../../src/vision/decode.js";

/**
 * A worker module for the pool's tests (pool.test.ts): small tasks that answer, fail, take their
 * time or kill their own thread, so the pool can be checked without loading any network.
 */

export interface FixtureInit {
  /** Setup fails while this file exists: a replacement started after the test creates it cannot start. */
  failWhileExists?: string;
  /** Setup fails with this message. */
  failWith?: string;
}

export interface FixtureInfo {
  threadId: number;
  /** The thread's young-generation limit as V8 applies it, in MB. */
  youngGenerationMb: number | undefined;
}

export type FixtureTasks = {
  echo: { request: { value: string }; result: { value: string; threadId: number } };
  double: { request: { values: Float32Array }; result: { values: Float32Array } };
  decodeError: { request: { code: "too_large" | "corrupt" }; result: never };
  crash: { request: { how: "throw" | "exit" }; result: never };
  wait: { request: { ms: number; value: string }; result: { value: string; threadId: number } };
  youngGeneration: { request: { ms: number }; result: { youngGenerationMb: number | undefined; threadId: number } };
};

hostTasks<FixtureInit, FixtureInfo, FixtureTasks>((init, log) => {
  if (init.failWith) return Promise.reject(new RangeError(init.failWith));
  if (init.failWhileExists && existsSync(init.failWhileExists)) return Promise.reject(new Error(`${init.failWhileExists} exists`));
  log.info({ threadId }, "fixture worker ready");
  return Promise.resolve({
    info: { threadId, youngGenerationMb: resourceLimits.maxYoungGenerationSizeMb },
    handlers: {
      echo: (request) => Promise.resolve({ result: { value: request.value, threadId } }),
      double: (request) => {
        const values = request.values.map((value) => value * 2);
        return Promise.resolve({ result: { values }, transfer: [values.buffer] });
      },
      decodeError: (request) => Promise.reject(new ImageDecodeError(request.code, `a ${request.code} photo`, { cause: new TypeError("the inner reason") })),
      crash: (request) => {
        // Outside the handler's promise, as a crash in native code or a stray callback would be.
        setImmediate(() => {
          if (request.how === "exit") process.exit(3);
          throw new Error("the worker broke");
        });
        return new Promise<never>(() => {});
      },
      // After a pause, so that tasks sent together land on different workers.
      youngGeneration: (request) => new Promise((resolve) => setTimeout(() => resolve({ result: { youngGenerationMb: resourceLimits.maxYoungGenerationSizeMb, threadId } }), request.ms)),
      wait: (request) => new Promise((resolve) => setTimeout(() => resolve({ result: { value: request.value, threadId } }), request.ms)),
    },
  });
});
