/**
 * What the serve benchmarks observe of a running inference service beside its load: the event-loop
 * delay of the thread that answers HTTP, and how long /healthz takes to answer.
 *
 * The event-loop delay is measured inside the serving process by the histogram every faceops server
 * already keeps: prom-client's default metrics run perf_hooks monitorEventLoopDelay (10 ms
 * resolution, which the figures include: an idle loop reads ~10 ms) and publish its p50, p99 and
 * max on /metrics as nodejs_eventloop_lag_*_seconds, resetting the histogram at every scrape. So a
 * scrape at the start of a measured window drops the warm-up, and one at its end reads the window
 * alone (nothing else may scrape the service meanwhile).
 *
 * /healthz is asked from a worker thread, whose event loop is not the one generating the load, one
 * request at a time on a new connection (as a kubelet probe does), every `intervalMs`.
 */
import { Worker } from "node:worker_threads";

export interface Spread {
  p50: number;
  p99: number;
  max: number;
}

/** Starts a measured window: one scrape of /metrics, which resets the event-loop histogram. */
export async function resetEventLoopDelay(url: string): Promise<void> {
  await scrape(url);
}

/**
 * The event-loop delay since the last scrape, in ms, from the service's /metrics; null when the
 * service does not publish prom-client's event-loop metrics (a registry without default metrics).
 */
export async function readEventLoopDelay(url: string): Promise<Spread | null> {
  const exposition = await scrape(url);
  const p50 = gaugeValue(exposition, "nodejs_eventloop_lag_p50_seconds");
  const p99 = gaugeValue(exposition, "nodejs_eventloop_lag_p99_seconds");
  const max = gaugeValue(exposition, "nodejs_eventloop_lag_max_seconds");
  if (p50 === null || p99 === null || max === null) return null;
  const ms = (seconds: number) => Math.round(seconds * 1e5) / 100;
  return { p50: ms(p50), p99: ms(p99), max: ms(max) };
}

/** The value of an unlabelled gauge in Prometheus' text format, or null when it is absent. */
export function gaugeValue(exposition: string, name: string): number | null {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([^ \\n]+)`, "m").exec(exposition);
  if (!match) return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : null;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  if (!response.ok) throw new Error(`GET ${url}/metrics answered ${response.status}`);
  return response.text();
}

export interface HealthSpread extends Spread {
  /** Checks made, and of those the ones that failed (refused, reset or not 200), left out of the spread. */
  checks: number;
  failed: number;
}

/** Asks /healthz every `intervalMs` from a worker thread until stop(); latencies in ms. */
export function pollHealth(url: string, intervalMs = 50): { stop(): Promise<HealthSpread> } {
  const worker = new Worker(
    `
    const { get } = require("node:http");
    const { parentPort, workerData } = require("node:worker_threads");
    let running = true;
    parentPort.once("message", () => (running = false));
    const check = () => new Promise((resolve) => {
      const asked = performance.now();
      const request = get(workerData.url + "/healthz", { agent: false }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode === 200 ? performance.now() - asked : null));
      });
      request.on("error", () => resolve(null));
    });
    (async () => {
      const times = [];
      while (running) {
        times.push(await check());
        await new Promise((resolve) => setTimeout(resolve, workerData.intervalMs));
      }
      parentPort.postMessage(times);
    })();
    `,
    { eval: true, workerData: { url, intervalMs } },
  );
  const report = new Promise<Array<number | null>>((done, failed) => {
    worker.once("message", done);
    worker.once("error", failed);
  });
  return {
    async stop() {
      worker.postMessage("stop");
      const times = await report;
      await worker.terminate();
      return healthSpread(times);
    },
  };
}

/** p50, p99 and max of the answered checks' latencies (null: a failed check), rounded to 0.1 ms. */
export function healthSpread(times: ReadonlyArray<number | null>): HealthSpread {
  const sorted = times.filter((time): time is number => time !== null).sort((a, b) => a - b);
  const failed = times.length - sorted.length;
  if (sorted.length === 0) throw new Error(`none of ${times.length} /healthz checks was answered with 200`);
  const at = (quantile: number) => sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] as number;
  const round = (value: number) => Math.round(value * 10) / 10;
  return { checks: times.length, failed, p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1] as number) };
}
