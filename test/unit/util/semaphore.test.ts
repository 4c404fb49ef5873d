import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Semaphore } from "../../../src/util/semaphore.js";

/** Resolves after every promise callback queued so far has run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("Semaphore", () => {
  test("holds at most its permits, and hands them on in arrival order", async () => {
    const semaphore = new Semaphore(2);
    const order: string[] = [];
    const first = await semaphore.acquire();
    const second = await semaphore.acquire();
    const third = semaphore.acquire().then((release) => (order.push("third"), release));
    const fourth = semaphore.acquire().then((release) => (order.push("fourth"), release));
    await settle();
    assert.deepEqual([semaphore.inUse, semaphore.waiting, order], [2, 2, []]);
    first();
    await settle();
    assert.deepEqual(order, ["third"]);
    second();
    await settle();
    assert.deepEqual(order, ["third", "fourth"]);
    (await third)();
    (await fourth)();
    assert.deepEqual([semaphore.inUse, semaphore.waiting, semaphore.peak], [0, 0, 2]);
  });

  test("a heavy holder waits for all its permits and is not overtaken by light ones", async () => {
    const semaphore = new Semaphore(3);
    const light = await semaphore.acquire(1);
    const order: string[] = [];
    const heavy = semaphore.acquire(3).then((release) => (order.push("heavy"), release));
    const later = semaphore.acquire(1).then((release) => (order.push("later"), release));
    await settle();
    assert.deepEqual(order, [], "two permits are free, but the heavy holder came first and needs three");
    light();
    await settle();
    assert.deepEqual(order, ["heavy"]);
    assert.equal(semaphore.inUse, 3);
    (await heavy)();
    await settle();
    assert.deepEqual(order, ["heavy", "later"]);
    (await later)();
    assert.equal(semaphore.peak, 3);
  });

  test("use gives the permits back when the work fails, and a release counts once", async () => {
    const semaphore = new Semaphore(1);
    await assert.rejects(semaphore.use(1, () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(semaphore.inUse, 0);
    const release = await semaphore.acquire();
    release();
    release();
    assert.equal(semaphore.inUse, 0);
    assert.equal(await semaphore.use(1, () => Promise.resolve(7)), 7);
  });

  test("under a flood of concurrent work the peak never passes the permits", async () => {
    const semaphore = new Semaphore(3);
    let running = 0;
    let highest = 0;
    await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        semaphore.use(1 + (index % 3), async () => {
          running += 1 + (index % 3);
          highest = Math.max(highest, running);
          await settle();
          running -= 1 + (index % 3);
        }),
      ),
    );
    assert.ok(highest <= 3, `held ${highest} permits at once`);
    assert.equal(semaphore.peak, highest);
  });

  test("refuses a permit count it could never grant, naming it", async () => {
    assert.throws(() => new Semaphore(0), /positive integer of permits, received 0/);
    const semaphore = new Semaphore(2);
    await assert.rejects(semaphore.acquire(3), /1\.\.2 permits, asked for 3/);
    await assert.rejects(semaphore.acquire(0), /asked for 0/);
  });
});
