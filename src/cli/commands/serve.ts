import { Registry } from "prom-client";
import { createServeMetrics } from "../../metrics/serve-metrics.js";
import { createApp } from "../../serve/app.js";
import { ModelSlot } from "../../serve/model-slot.js";
import { serveBundle, StoreFollower } from "../../serve/model-source.js";
import { listen } from "../../serve/server.js";
import type { CommandContext } from "../context.js";
import { readFileSync } from "node:fs";

/** package.json sits three folders up from this file both in src/ and in dist/. */
export function faceopsVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

export interface ServeOptions {
  model?: string;
  port?: string;
}

/**
 * `faceops serve --model <bundle>` serves one bundle; without --model it follows the store's
 * current-version pointer (`--store`), hot-swapping each promoted version. Runs until SIGTERM/SIGINT.
 */
export async function serveCommand(options: ServeOptions, context: CommandContext): Promise<void> {
  const { config } = context.loaded;
  const { serve } = config;
  const metrics = createServeMetrics(new Registry());
  const slot = new ModelSlot({ maxBatch: serve.maxBatch, maxDelayMs: serve.maxDelayMs }, metrics, context.log);
  const app = createApp({
    slot,
    metrics,
    log: context.log,
    limits: { maxBytes: serve.maxBodyBytes, maxFiles: serve.maxImagesPerRequest },
    serverVersion: faceopsVersion(),
  });
  const follower = options.model ? null : new StoreFollower({ store: context.store, slot, metrics, config, log: context.log, checkIntervalMs: serve.checkInterval });
  const running = await listen(app, {
    port: serve.port,
    host: serve.host,
    graceMs: serve.gracePeriod,
    log: context.log,
    onClosed: async () => {
      await follower?.stop();
      await slot.close();
    },
  });
  const stop = (signal: string) => void running.shutdown(signal).then(() => process.exit(0));
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  try {
    if (options.model) await serveBundle(options.model, "v0", { slot, metrics, config, log: context.log });
    else await follower?.start();
  } catch (error) {
    // A bundle given on the command line that cannot load is fatal: nothing else would ever load.
    await running.shutdown("the model failed to load");
    throw error;
  }
}
