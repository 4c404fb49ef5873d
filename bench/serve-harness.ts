/**
 * The processes of bench/serve.ts: `faceops serve` in its own process, as deployed, and one load
 * level against it from a fresh client process (bench/serve-load.ts says why fresh).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import type { StoreLayout } from "../src/store/layout.js";
import type { HealthSpread, Spread } from "./serve-probes.js";

const main = resolve(import.meta.dirname, "../src/cli/main.ts");

export interface ServedBundle {
  url: string;
  /** What the service said when it loaded the model: its face-path worker threads and backbone engine (null if it did not say). */
  workers: number | null;
  engine: string | null;
  stop(): Promise<void>;
}

/** `faceops serve --model <bundle>` on 127.0.0.1, a free port, `serve.maxBatch` as given; resolves once /readyz is 200. */
export async function startServer(bundle: string, store: StoreLayout, maxBatch: number, extra: readonly string[] = []): Promise<ServedBundle> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), main, "serve", "--model", bundle, "--port", "0", "--store", store.root, "--set", "serve.host=127.0.0.1", "--set", `serve.maxBatch=${maxBatch}`, "--log-format", "json", ...extra],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ["ignore", "ignore", "pipe"] },
  );
  // The log is read until the model is loaded and the URL is known; after that it is only drained.
  let buffered = "";
  let loaded: ModelLoaded | null = null;
  const url = await new Promise<string>((resolveUrl, reject) => {
    let found: string | null = null;
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      if (found && loaded) return;
      buffered += chunk;
      loaded ??= modelLoaded(buffered);
      found ??= /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(buffered)?.[1] ?? null;
      if (found) resolveUrl(found);
    });
    child.on("exit", (code) => reject(new Error(`faceops serve exited with ${code}: ${buffered}`)));
  });
  for (let attempt = 0; ; attempt++) {
    if ((await fetch(`${url}/readyz`).then((response) => response.status, () => 0)) === 200) break;
    if (attempt > 600 || child.exitCode !== null) throw new Error(`${url} never became ready: ${buffered}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  const said = loaded ?? modelLoaded(buffered) ?? { workers: null, engine: null };
  return {
    url,
    ...said,
    stop: () =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) return resolveStop();
        child.on("exit", () => resolveStop());
        child.kill("SIGTERM");
      }),
  };
}

type ModelLoaded = Pick<ServedBundle, "workers" | "engine">;

/** The "model loaded" line of a JSON log (see Predictor.load), or null before it has come. */
function modelLoaded(log: string): ModelLoaded | null {
  for (const line of log.split("\n")) {
    if (!line.includes('"model loaded"')) continue;
    try {
      const entry = JSON.parse(line) as { workers?: unknown; engine?: unknown };
      return { workers: typeof entry.workers === "number" ? entry.workers : null, engine: typeof entry.engine === "string" ? entry.engine : null };
    } catch {
      // A line cut at the chunk's end: read again with the next chunk.
    }
  }
  return null;
}

export interface LevelResult {
  requests: number;
  seconds: number;
  non2xx: number;
  errors: number;
  latency: Spread;
  /** The service's event-loop delay over the measured window (null: not published). */
  eventLoopDelayMs: Spread | null;
  healthzMs: HealthSpread;
  warmup: { requests: number; non2xx: number };
}

/** One concurrency level: `warmupSeconds` not measured, then `seconds` measured (see bench/serve-load.ts). */
export async function loadLevel(url: string, photoPaths: readonly string[], level: { connections: number; seconds: number; warmupSeconds: number }): Promise<LevelResult> {
  const script = resolve(import.meta.dirname, "serve-load.ts");
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), script, url, String(level.connections), String(level.seconds), ...photoPaths, "--warmup", String(level.warmupSeconds)],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split("\n").pop() as string) as LevelResult;
}
