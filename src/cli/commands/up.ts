import { Registry } from "prom-client";
import { controllerRouter } from "../../controller/http.js";
import { seedExampleRepository } from "../../dataset/seed.js";
import { createServeMetrics } from "../../metrics/serve-metrics.js";
import { LocalDeployer } from "../../platform/local/deployer.js";
import { RecordStore } from "../../records/record-store.js";
import { ModelSlot } from "../../serve/model-slot.js";
import { StoreFollower } from "../../serve/model-source.js";
import { inferenceWorkers, listenInference } from "./inference-server.js";
import { readSecret, type CommandContext } from "../context.js";
import { localController } from "./controller-setup.js";

/**
 * `faceops up`, what `npm start` runs: everything on one machine. The controller watches the
 * repository and trains attempts as child processes; a passing model becomes the store's next
 * version, and the inference server in this process hot-swaps to it. One port serves the page,
 * predictions, /metrics and the controller's API.
 */
export async function upCommand(context: CommandContext): Promise<void> {
  const { config } = context.loaded;
  const { serve, source } = config;
  if (source.repo === "./faces" || source.repo === "faces") {
    await seedExampleRepository(source.repo, { branch: source.branch, log: context.log, env: context.env });
  }
  const registry = new Registry();
  const serveMetrics = createServeMetrics(registry);
  const slot = new ModelSlot({ maxBatch: serve.maxBatch, maxDelayMs: serve.maxDelayMs }, serveMetrics, context.log);
  const follower = new StoreFollower({
    store: context.store,
    slot,
    metrics: serveMetrics,
    config,
    log: context.log,
    workers: inferenceWorkers(context),
    checkIntervalMs: serve.checkInterval,
  });
  // The rollout is confirmed when the server has the version loaded; look at the pointer first, so confirmation does not wait for a file event.
  const deployer = new LocalDeployer(context.store, async () => {
    await follower.check();
    return slot.model?.version ?? null;
  });
  const { controller } = localController(context, deployer, registry);
  const running = await listenInference(context, {
    slot,
    metrics: serveMetrics,
    follower,
    routers: [
      controllerRouter({
        store: new RecordStore(context.store),
        branch: source.branch,
        apiToken: readSecret(context, "FACEOPS_API_TOKEN", config.controller.apiTokenFile, "API token"),
        webhookSecret: readSecret(context, "FACEOPS_WEBHOOK_SECRET", config.controller.webhookSecretFile, "webhook secret"),
        kick: (trigger) => controller.kick(trigger),
        watching: () => controller.watching,
        resolveCommit: (revision) => controller.resolveCommit(revision),
        log: context.log,
      }),
    ],
  });
  const stop = (signal: string) =>
    void (async () => {
      context.log.info({ signal }, "stopping: attempts in progress are stopped and re-run at the next start");
      await controller.stop();
      await running.shutdown(signal);
      process.exit(0);
    })();
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  try {
    await follower.start();
    await controller.start();
  } catch (error) {
    await running.shutdown("start-up failed");
    throw error;
  }
  // The address a browser on this machine opens, as the README writes it.
  const url = running.url.replace(/^http:\/\/(0\.0\.0\.0|127\.0\.0\.1):/, "http://localhost:");
  context.log.info({ url, repo: source.repo, branch: source.branch }, "faceops is up: commit photos to the repository and open the URL");
}
