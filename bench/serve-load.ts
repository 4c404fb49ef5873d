/**
 * One load level for bench/serve.ts and bench/serve-event-loop.ts, in its own process: autocannon
 * keeps state across instances in one process (a second run there starved some connections for the
 * whole run, which a fresh process never did against the same server), so each level gets a fresh
 * client.
 *
 *   tsx bench/serve-load.ts <url> <connections> <seconds> <photo>... [--warmup <seconds>]
 *
 * 1. Warm-up (when asked): `connections` requests at a time for the warm-up seconds, with Node's
 *    own HTTP client, not autocannon; then it waits for the last answers, so the measured window
 *    starts with no request of the warm-up (nor of a previous level: the queue is first in, first
 *    out) still in the service.
 * 2. The measured window: the service's event-loop histogram is reset (see serve-probes.ts),
 *    /healthz is asked every 50 ms from a worker thread, and autocannon sends the photos as raw JPEG
 *    bodies to /v1/predict, in turn, for `seconds`.
 * 3. Prints one JSON line: requests, seconds, non2xx, errors, latency p50/p99/max in ms, the
 *    event-loop delay p50/p99/max in ms (null when the service does not publish it), /healthz
 *    checks and p50/p99/max in ms, and the warm-up's requests.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { pollHealth, readEventLoopDelay, resetEventLoopDelay } from "./serve-probes.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { warmup: { type: "string", default: "0" } } });
const [url, connections, seconds, ...photos] = positionals;
const warmupSeconds = Number(values.warmup);
if (!url || !connections || !seconds || photos.length === 0 || !(warmupSeconds >= 0)) {
  console.error("usage: serve-load.ts <url> <connections> <seconds> <photo>... [--warmup <seconds>]");
  process.exit(2);
}
const bodies = photos.map((path) => readFileSync(path));

const warmup = warmupSeconds > 0 ? await warmUp(url, Number(connections), warmupSeconds) : { requests: 0, non2xx: 0 };
await resetEventLoopDelay(url);
const health = pollHealth(url);
const result = await autocannon({
  url: `${url}/v1/predict`,
  connections: Number(connections),
  duration: Number(seconds),
  timeout: 120,
  requests: bodies.map((body) => ({ method: "POST", headers: { "content-type": "image/jpeg" }, body })),
});
const eventLoopDelayMs = await readEventLoopDelay(url);
const healthzMs = await health.stop();
console.log(
  JSON.stringify({
    requests: result.requests.total,
    seconds: result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    eventLoopDelayMs,
    healthzMs,
    warmup,
  }),
);

/** `lanes` requests at a time until `forSeconds` have passed, then the answers still due. */
async function warmUp(base: string, lanes: number, forSeconds: number): Promise<{ requests: number; non2xx: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: lanes });
  const until = performance.now() + forSeconds * 1000;
  let requests = 0;
  let non2xx = 0;
  const lane = async (first: number) => {
    for (let next = first; performance.now() < until; next += lanes) {
      const status = await predict(agent, base, bodies[next % bodies.length] as Buffer);
      requests++;
      if (status < 200 || status > 299) non2xx++;
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, (_, index) => lane(index)));
  } finally {
    agent.destroy();
  }
  return { requests, non2xx };
}

function predict(agent: Agent, base: string, body: Buffer): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const sent = request(`${base}/v1/predict`, { method: "POST", agent, headers: { "content-type": "image/jpeg", "content-length": body.length } }, (response) => {
      response.resume();
      response.on("end", () => resolveStatus(response.statusCode ?? 0));
    });
    sent.on("error", (error) => reject(new Error(`warm-up POST ${base}/v1/predict failed`, { cause: error })));
    sent.end(body);
  });
}
