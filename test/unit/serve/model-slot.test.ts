import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { silentLogger } from "../../../src/log.js";
import { createServeMetrics } from "../../../src/metrics/serve-metrics.js";
import type { Predictor } from "../../../src/model/predictor.js";
import { ModelSlot } from "../../../src/serve/model-slot.js";

/**
 * Shutdown behind a closed server: a request still running (its client may have gone) keeps its
 * model until it ends, up to the wait, so it does not fail on a disposed model.
 */

/** A predictor that only knows whether it was disposed: the slot touches nothing else of it here. */
function fakePredictor(): { predictor: Predictor; disposed: () => boolean } {
  let disposed = false;
  const predictor = {
    metadata: { name: "faces", dataset: { commit: "abc" }, backbone: { id: "face-embedding" } },
    scores: () => Promise.resolve([]),
    dispose: () => {
      disposed = true;
      return Promise.resolve();
    },
  } as unknown as Predictor;
  return { predictor, disposed: () => disposed };
}

function slot(): ModelSlot {
  return new ModelSlot({ maxBatch: 8, maxDelayMs: 5 }, createServeMetrics(new Registry()), silentLogger());
}

describe("model slot: close", () => {
  test("waits for the requests still running, then disposes their model", async () => {
    const models = slot();
    const { predictor, disposed } = fakePredictor();
    models.install(predictor, "v1");
    const held = models.acquire();
    assert.ok(held);
    const closed = models.close(10_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(disposed(), false, "the request still uses its model");
    assert.equal(models.acquire(), null, "no new request gets a model once closing");
    models.release(held);
    await closed;
    assert.equal(disposed(), true);
  });

  test("disposes at once when nothing runs, and after the wait when a request never ends", async () => {
    const idle = slot();
    const first = fakePredictor();
    idle.install(first.predictor, "v1");
    await idle.close(10_000);
    assert.equal(first.disposed(), true);

    const stuck = slot();
    const second = fakePredictor();
    stuck.install(second.predictor, "v1");
    assert.ok(stuck.acquire());
    const started = performance.now();
    await stuck.close(100);
    assert.equal(second.disposed(), true);
    assert.ok(performance.now() - started >= 90, "it waited for the request first");
  });

  test("a version retired by a swap before shutdown is disposed with its last request, as before", async () => {
    const models = slot();
    const old = fakePredictor();
    const current = fakePredictor();
    models.install(old.predictor, "v1");
    const held = models.acquire();
    assert.ok(held);
    models.install(current.predictor, "v2");
    assert.equal(old.disposed(), false);
    models.release(held);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(old.disposed(), true);
    await models.close(10_000);
    assert.equal(current.disposed(), true);
  });
});
