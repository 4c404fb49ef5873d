import assert from "node:assert/strict";
import { test } from "node:test";
import { MicroBatcher } from "../../../src/serve/batcher.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("concurrent submissions share one call, up to maxBatch, each gets its own result", async () => {
  const calls: number[][] = [];
  const sizes: number[] = [];
  const batcher = new MicroBatcher<number, number>({
    maxBatch: 4,
    maxDelayMs: 20,
    process: async (items) => {
      calls.push(items);
      await sleep(5);
      return items.map((item) => item * 10);
    },
    onBatch: (size) => sizes.push(size),
  });
  const results = await Promise.all([1, 2, 3, 4, 5, 6].map((item) => batcher.submit(item)));
  assert.deepEqual(results, [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(calls, [
    [1, 2, 3, 4],
    [5, 6],
  ]);
  assert.deepEqual(sizes, [4, 2]);
});

test("a lone request leaves after maxDelayMs, not later", async () => {
  const batcher = new MicroBatcher<string, string>({ maxBatch: 8, maxDelayMs: 10, process: (items) => Promise.resolve(items.map((item) => item.toUpperCase())) });
  assert.equal(await batcher.submit("a"), "A");
});

test("items that arrive while a batch runs go out together right after it", async () => {
  const calls: number[][] = [];
  let started!: () => void;
  const firstStarted = new Promise<void>((resolve) => (started = resolve));
  let release!: () => void;
  const firstMayEnd = new Promise<void>((resolve) => (release = resolve));
  const batcher = new MicroBatcher<number, number>({
    maxBatch: 8,
    maxDelayMs: 5,
    process: async (items) => {
      calls.push(items);
      if (calls.length === 1) {
        started();
        await firstMayEnd;
      }
      return items;
    },
  });
  const first = batcher.submit(1);
  await firstStarted;
  const later = [2, 3, 4].map((item) => batcher.submit(item));
  await sleep(20); // longer than maxDelayMs: they must still wait for the running batch
  assert.equal(calls.length, 1);
  release();
  await Promise.all([first, ...later]);
  assert.deepEqual(calls, [[1], [2, 3, 4]]);
});

test("a failing batch rejects each of its items and the batcher keeps working", async () => {
  let fail = true;
  const batcher = new MicroBatcher<number, number>({
    maxBatch: 2,
    maxDelayMs: 1,
    process: (items) => (fail ? Promise.reject(new Error("backbone exploded")) : Promise.resolve(items)),
  });
  const outcomes = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
  assert.deepEqual(outcomes.map((outcome) => outcome.status), ["rejected", "rejected"]);
  fail = false;
  assert.equal(await batcher.submit(3), 3);
  assert.throws(() => new MicroBatcher({ maxBatch: 0, maxDelayMs: 1, process: () => Promise.resolve([]) }), /maxBatch must be a positive integer, received 0/);
});
