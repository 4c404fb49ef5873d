import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Gauge, Registry } from "prom-client";
import { gaugeValue, healthSpread } from "../../../bench/serve-probes.js";
import { registerProcessMetrics } from "../../../src/metrics/process-metrics.js";

/*
 * The arithmetic of bench/serve-probes.ts: reading a gauge out of Prometheus' text format (as a
 * faceops server's /metrics writes it) and the spread of /healthz latencies. The probes against a
 * live server are in test/integration/bench/serve-probes.test.ts.
 */

describe("serve probes: reading /metrics", () => {
  test("the event-loop gauges every faceops server publishes are found in its registry's text", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const text = await registry.metrics();
    for (const name of ["nodejs_eventloop_lag_p50_seconds", "nodejs_eventloop_lag_p99_seconds", "nodejs_eventloop_lag_max_seconds"]) {
      const value = gaugeValue(text, name);
      assert.ok(value !== null && value >= 0, `${name}: ${String(value)}`);
    }
  });

  test("a gauge's value, with or without labels; a name that is only a prefix of another, or absent, is null", async () => {
    const registry = new Registry();
    new Gauge({ name: "bench_plain", help: "A gauge.", registers: [registry] }).set(0.0125);
    new Gauge({ name: "bench_plain_extended", help: "Another gauge.", registers: [registry] }).set(7);
    new Gauge({ name: "bench_labelled", help: "A labelled gauge.", labelNames: ["kind"], registers: [registry] }).set({ kind: "a" }, 3);
    const text = await registry.metrics();
    assert.equal(gaugeValue(text, "bench_plain"), 0.0125);
    assert.equal(gaugeValue(text, "bench_plain_extended"), 7);
    assert.equal(gaugeValue(text, "bench_labelled"), 3);
    assert.equal(gaugeValue(text, "bench_absent"), null);
    assert.equal(gaugeValue("bench_prefix_longer 1\n", "bench_prefix"), null);
  });
});

describe("serve probes: the spread of /healthz latencies", () => {
  test("p50, p99 and max of the answered checks; failed checks are counted, not ranked", () => {
    const times = [...Array.from({ length: 199 }, (_, index) => index + 1), null, null, 500];
    const spread = healthSpread(times);
    assert.deepEqual(spread, { checks: 202, failed: 2, p50: 101, p99: 199, max: 500 });
  });

  test("rounds to 0.1 ms", () => {
    assert.deepEqual(healthSpread([1.234, 5.678]), { checks: 2, failed: 0, p50: 5.7, p99: 5.7, max: 5.7 });
  });

  test("no check answered is an error, not a spread of nothing", () => {
    assert.throws(() => healthSpread([null, null]), /none of 2 \/healthz checks was answered with 200/);
  });
});
