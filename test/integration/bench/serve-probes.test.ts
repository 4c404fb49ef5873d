import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import express from "express";
import { Registry } from "prom-client";
import { pollHealth, readEventLoopDelay, resetEventLoopDelay } from "../../../bench/serve-probes.js";
import { metricsRoute } from "../../../src/http/metrics-route.js";
import { registerProcessMetrics } from "../../../src/metrics/process-metrics.js";

/*
 * bench/serve-probes.ts against a live server on loopback that publishes the process metrics every
 * faceops server does, hosted by this test's own main thread, which the tests block on purpose: the
 * event-loop delay must come from the server's own histogram and cover only the window since the
 * last scrape, and /healthz must be timed from a thread whose clock keeps running while the server's
 * loop is blocked. Blocks are long (800 ms) and the bounds generous, so a busy machine does not
 * decide the outcome: an ordinary loop's delay is tens of milliseconds even under load.
 */

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Spinning, on purpose: nothing else runs on this thread meanwhile.
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function listening(app: express.Express): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error(`no port from ${JSON.stringify(address)}`);
  return { server, url: `http://127.0.0.1:${address.port}` };
}

describe("serve probes against a live server", () => {
  let healthy = true;
  let server: Server;
  let url = "";

  before(async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const app = express();
    app.get("/healthz", (_request, response) => void response.status(healthy ? 200 : 503).json({ status: healthy ? "ok" : "failing" }));
    app.use(metricsRoute(registry));
    ({ server, url } = await listening(app));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("the event-loop delay is the server's own over the measured window: a block before its start (the warm-up) is left out, one inside shows", async () => {
    await pause(50);
    blockEventLoop(800);
    await pause(50);
    await resetEventLoopDelay(url);
    await pause(300);
    const quiet = await readEventLoopDelay(url);
    assert.ok(quiet, "the server publishes nodejs_eventloop_lag_*_seconds");
    assert.ok(quiet.max < 700, `the reset at the window's start dropped the block before it: ${JSON.stringify(quiet)}`);
    assert.ok(quiet.p50 <= quiet.p99 && quiet.p99 <= quiet.max, JSON.stringify(quiet));

    await resetEventLoopDelay(url);
    await pause(50);
    blockEventLoop(800);
    await pause(50);
    const blocked = await readEventLoopDelay(url);
    assert.ok(blocked, "still published");
    assert.ok(blocked.max >= 700 && blocked.p99 >= 700, `the 800 ms block shows in the window's p99 and max: ${JSON.stringify(blocked)}`);
  });

  test("/healthz is timed from another thread: a block of the server's loop shows as one slow check", async () => {
    healthy = true;
    const health = pollHealth(url, 20);
    await pause(300);
    blockEventLoop(800);
    await pause(300);
    const spread = await health.stop();
    assert.equal(spread.failed, 0);
    assert.ok(spread.checks >= 5, `checks went on around the block: ${JSON.stringify(spread)}`);
    assert.ok(spread.max >= 500, `the check asked during the block waited for it: ${JSON.stringify(spread)}`);
  });

  test("checks that are not answered 200 are counted as failed; none answered is an error", async () => {
    healthy = false;
    const health = pollHealth(url, 20);
    await pause(200);
    await assert.rejects(health.stop(), /none of \d+ \/healthz checks was answered with 200/);
    healthy = true;
  });
});
