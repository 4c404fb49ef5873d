import { Registry } from "prom-client";
import { serveBundle } from "../../serve/model-source.js";
import type { CommandContext } from "../context.js";
import { buildInference, followStore, inferenceApp, stopInference } from "../wiring/inference.js";
import { runUntilSignal } from "../wiring/run-until-signal.js";

export interface ServeOptions {
  model?: string;
  port?: string;
}

/**
 * `faceops serve --model <bundle>` serves one bundle; without --model it follows the store's
 * current-version pointer (`--store`), hot-swapping each promoted version. Runs until SIGTERM/SIGINT.
 */
export async function serveCommand(options: ServeOptions, context: CommandContext): Promise<void> {
  const inference = buildInference(context, new Registry());
  const { slot, metrics, loading } = inference;
  // FACEOPS_MODEL_VERSION pins one version of the store (a Kubernetes rollout sets it per pod template); else follow the pointer.
  const pinned = options.model ? "" : (context.env.FACEOPS_MODEL_VERSION ?? "").trim();
  const follower = options.model || pinned ? null : followStore(context, inference);
  await runUntilSignal({
    app: inferenceApp(context, inference),
    name: "inference service",
    address: context.loaded.config.serve,
    log: context.log,
    start: async () => {
      if (pinned) {
        // A version that cannot load leaves this pod unready (so a rollout of it never completes and is rolled back), not dead.
        await serveBundle(context.store.modelVersion(pinned), pinned, { ...loading, slot, metrics }).catch((error: unknown) =>
          context.log.error({ err: error, version: pinned }, "the pinned model version failed to load; staying unready"),
        );
        return;
      }
      // A bundle given on the command line that cannot load is fatal: nothing else would ever load.
      if (options.model) await serveBundle(options.model, "v0", { ...loading, slot, metrics });
      else await follower?.start();
    },
    stops: stopInference(inference, follower),
  });
}
