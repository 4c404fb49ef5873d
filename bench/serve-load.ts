/**
 * One load level for bench/serve.ts, in its own process: autocannon keeps state across instances
 * in one process (a second run there starved some connections for the whole run, which a fresh
 * process never did against the same server), so each concurrency gets a fresh client.
 *
 *   tsx bench/serve-load.ts <url> <connections> <seconds> <photo>...
 *
 * Prints one JSON line: requests, seconds, non2xx, errors, and latency p50/p99/max in ms.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const [url, connections, seconds, ...photos] = process.argv.slice(2);
if (!url || !connections || !seconds || photos.length === 0) {
  console.error("usage: serve-load.ts <url> <connections> <seconds> <photo>...");
  process.exit(2);
}
const result = await autocannon({
  url: `${url}/v1/predict`,
  connections: Number(connections),
  duration: Number(seconds),
  timeout: 120,
  requests: photos.map((path) => ({ method: "POST", headers: { "content-type": "image/jpeg" }, body: readFileSync(path) })),
});
console.log(
  JSON.stringify({
    requests: result.requests.total,
    seconds: result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  }),
);
