import { Registry } from "prom-client";
import { createServeMetrics } from "../../metrics/serve-metrics.js";
import { ModelSlot } from "../../serve/model-slot.js";
import { serveBundle, StoreFollower } from "../../serve/model-source.js";
import { inferenceWorkers, listenInference } from "./inference-server.js";
import type { CommandContext } from "../context.js";

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
  const loading = { config, log: context.log, workers: inferenceWorkers(context) };
  // FACEOPS_MODEL_VERSION pins one version of the store (a Kubernetes rollout sets it per pod template); else follow the pointer.
  const pinned = options.model ? "" : (context.env.FACEOPS_MODEL_VERSION ?? "").trim();
  const follower = options.model || pinned ? null : new StoreFollower({ ...loading, store: context.store, slot, metrics, checkIntervalMs: serve.checkInterval });
  const running = await listenInference(context, { slot, metrics, follower });
  const stop = (signal: string) => void running.shutdown(signal).then(() => process.exit(0));
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  if (pinned) {
    // A version that cannot load leaves this pod unready (so a rollout of it never completes and is rolled back), not dead.
    await serveBundle(context.store.modelVersion(pinned), pinned, { ...loading, slot, metrics }).catch((error: unknown) =>
      context.log.error({ err: error, version: pinned }, "the pinned model version failed to load; staying unready"),
    );
    return;
  }
  try {
    if (options.model) await serveBundle(options.model, "v0", { ...loading, slot, metrics });
    else await follower?.start();
  } catch (error) {
    // A bundle given on the command line that cannot load is fatal: nothing else would ever load.
    await running.shutdown("the model failed to load");
    throw error;
  }
}
