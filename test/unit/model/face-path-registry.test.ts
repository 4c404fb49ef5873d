import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { silentLogger } from "../../../src/log.js";
import { facePathKey, FacePathRegistry, FacePathRegistryClosedError, type FacePathLoad, type RegisteredPool } from "../../../src/model/face-path/registry.js";
import type { FacePathWorkersOptions } from "../../../src/model/face-path/workers.js";

/**
 * The registry of face-path pools over pools that start no thread: which loads share a pool, when
 * a pool ends (its last lease given back, or close), and what a pool that failed to start or
 * broke leaves behind. The same registry with real workers is tested in
 * test/integration/serve/shared-face-path.test.ts.
 */

class FakePool implements RegisteredPool {
  alive: number;
  disposed = 0;
  constructor(readonly options: FacePathWorkersOptions) {
    this.alive = options.size;
  }
  dispose(): Promise<void> {
    this.disposed++;
    this.alive = 0;
    return Promise.resolve();
  }
}

const faceEmbedding: FacePathLoad = { size: 2, tfEngine: undefined, maxPixels: 40_000_000, detector: { landmarks: true }, embedding: { batchSize: undefined, mirror: false } };
const mirrored: FacePathLoad = { ...faceEmbedding, embedding: { batchSize: undefined, mirror: true } };

/** A registry of fake pools, each start recorded; `failNext` makes the next start fail. */
function fakeRegistry() {
  const started: FakePool[] = [];
  const control = { failNext: false, gate: null as Promise<void> | null };
  const registry = new FacePathRegistry<FakePool>({
    log: silentLogger(),
    start: async (options) => {
      if (control.gate) await control.gate;
      if (control.failNext) {
        control.failNext = false;
        throw new Error("the worker could not load its nets");
      }
      const pool = new FakePool(options);
      started.push(pool);
      return pool;
    },
  });
  return { registry, started, control };
}

describe("facePathKey", () => {
  test("the same loads share a key; every field that changes what a worker loads changes it", () => {
    const key = facePathKey(faceEmbedding);
    // An option left out and its default are the same load.
    assert.equal(facePathKey({ ...faceEmbedding, embedding: { batchSize: undefined } }), key);
    assert.equal(facePathKey({ ...faceEmbedding, embedding: { batchSize: undefined, mirror: false } }), key);
    const others: FacePathLoad[] = [
      { ...faceEmbedding, size: 3 },
      { ...faceEmbedding, tfEngine: "tfjs-wasm" },
      { ...faceEmbedding, maxPixels: 1_000_000 },
      { ...faceEmbedding, detector: { landmarks: false } },
      { ...faceEmbedding, detector: null },
      mirrored,
      { ...faceEmbedding, embedding: { batchSize: 8 } },
      { ...faceEmbedding, embedding: { batchSize: undefined, engine: "tfjs" } },
      { ...faceEmbedding, embedding: { batchSize: undefined, intraOpThreads: 2 } },
      { ...faceEmbedding, embedding: null },
    ];
    const keys = new Set([key, ...others.map(facePathKey)]);
    assert.equal(keys.size, others.length + 1, "every variation has its own key");
  });
});

describe("FacePathRegistry", () => {
  test("a hot swap to the same load keeps the pool: the new lease is taken before the old one is given back", async () => {
    const { registry, started } = fakeRegistry();
    const v1 = await registry.acquire(faceEmbedding);
    const v2 = await registry.acquire({ ...faceEmbedding });
    assert.equal(v2.workers, v1.workers, "one pool for both versions");
    await v1.release();
    assert.equal(started.length, 1);
    assert.equal(v1.workers.disposed, 0, "the pool runs on for v2");
    const v3 = await registry.acquire(faceEmbedding);
    assert.equal(v3.workers, v2.workers);
    await v2.release();
    await v3.release();
    assert.equal(v3.workers.disposed, 1, "the last lease ends the pool");
    assert.equal(registry.pools, 0);
    assert.equal(registry.starts, 1);
  });

  test("another load gets its own pool; the old one ends when its last lease is given back", async () => {
    const { registry, started } = fakeRegistry();
    const plain = await registry.acquire(faceEmbedding);
    const other = await registry.acquire(mirrored);
    assert.notEqual(other.workers, plain.workers);
    assert.equal(other.workers.options.embedding?.mirror, true, "the pool loads what was asked");
    assert.equal(registry.pools, 2);
    await plain.release();
    assert.equal(plain.workers.disposed, 1);
    assert.equal(other.workers.disposed, 0);
    assert.equal(started.length, 2);
    await other.release();
  });

  test("a lease given back twice counts once", async () => {
    const { registry } = fakeRegistry();
    const first = await registry.acquire(faceEmbedding);
    const second = await registry.acquire(faceEmbedding);
    await first.release();
    await first.release();
    assert.equal(second.workers.disposed, 0, "the second lease still holds the pool");
    await second.release();
    assert.equal(second.workers.disposed, 1);
  });

  test("after the last lease, the same load starts a new pool", async () => {
    const { registry, started } = fakeRegistry();
    const first = await registry.acquire(faceEmbedding);
    await first.release();
    const again = await registry.acquire(faceEmbedding);
    assert.notEqual(again.workers, first.workers);
    assert.equal(started.length, 2);
    await again.release();
  });

  test("loads asked for while a pool starts share that start", async () => {
    const { registry, started, control } = fakeRegistry();
    let open = () => {};
    control.gate = new Promise<void>((resolve) => (open = () => resolve()));
    const both = Promise.all([registry.acquire(faceEmbedding), registry.acquire(faceEmbedding)]);
    open();
    const [a, b] = await both;
    assert.equal(a.workers, b.workers);
    assert.equal(started.length, 1);
  });

  test("a pool that cannot start fails every caller waiting for it, and the next acquire starts another", async () => {
    const { registry, control } = fakeRegistry();
    let open = () => {};
    control.gate = new Promise<void>((resolve) => (open = () => resolve()));
    control.failNext = true;
    const waiting = [registry.acquire(faceEmbedding), registry.acquire(faceEmbedding)];
    open();
    for (const outcome of await Promise.allSettled(waiting)) {
      assert.equal(outcome.status, "rejected");
      assert.match(String(outcome.reason), /could not load its nets/);
    }
    assert.equal(registry.pools, 0, "the failed pool is forgotten");
    control.gate = null;
    const lease = await registry.acquire(faceEmbedding);
    assert.equal(lease.workers.alive, 2);
    assert.equal(registry.starts, 2);
  });

  test("a pool whose workers all died is not lent again; it still ends when its leases are back", async () => {
    const { registry } = fakeRegistry();
    const serving = await registry.acquire(faceEmbedding);
    serving.workers.alive = 0;
    const next = await registry.acquire(faceEmbedding);
    assert.notEqual(next.workers, serving.workers, "a new pool for the next version");
    assert.equal(registry.pools, 2);
    await serving.release();
    assert.equal(serving.workers.disposed, 1);
    assert.equal(next.workers.disposed, 0);
    await next.release();
  });

  test("close ends every pool, leased or not, and refuses later acquires", async () => {
    const { registry } = fakeRegistry();
    const plain = await registry.acquire(faceEmbedding);
    const other = await registry.acquire(mirrored);
    await registry.close();
    assert.deepEqual([plain.workers.disposed, other.workers.disposed], [1, 1]);
    assert.equal(registry.pools, 0);
    await plain.release();
    assert.equal(plain.workers.disposed, 1, "a lease given back after close ends nothing twice");
    await assert.rejects(registry.acquire(faceEmbedding), FacePathRegistryClosedError);
  });

  test("a pool still starting when the registry closes is ended, and its caller told", async () => {
    const { registry, started, control } = fakeRegistry();
    let open = () => {};
    control.gate = new Promise<void>((resolve) => (open = () => resolve()));
    const waiting = registry.acquire(faceEmbedding);
    const closing = registry.close();
    open();
    await assert.rejects(waiting, FacePathRegistryClosedError);
    await closing;
    assert.equal(started[0]?.disposed, 1);
  });
});
