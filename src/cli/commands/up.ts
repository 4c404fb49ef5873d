import { Registry } from "prom-client";
import { createControllerApp } from "../../controller/app.js";
import { seedExampleRepository } from "../../dataset/seed.js";
import { registerProcessMetrics } from "../../metrics/process-metrics.js";
import type { CommandContext } from "../context.js";
import { buildController } from "../wiring/controller.js";
import { buildReviewCommitter } from "../wiring/review.js";
import { buildInference, followStore, inferenceApp, stopInference } from "../wiring/inference.js";
import { kubeConfigFor, kubernetesPlatform, localPlatform, namespaceFor } from "../wiring/platforms.js";
import { runUntilSignal } from "../wiring/run-until-signal.js";

/**
 * `faceops up`: the controller, built by buildController for the chosen platform, and the server in
 * front of it, run until SIGTERM or SIGINT by runUntilSignal.
 *   local (what `npm start` runs): everything on one machine. Attempts train as child processes; a
 *     passing model becomes the store's next version and the inference server in this process
 *     hot-swaps to it. One port serves the page, predictions, /metrics and the controller's API.
 *   kubernetes: the controller alone. Training runs as Jobs, serving is the inference Deployment;
 *     its health, metrics and API are on serve.port.
 */
export async function upCommand(context: CommandContext, platform: "local" | "kubernetes"): Promise<void> {
  if (platform === "kubernetes") await upOnKubernetes(context, kubeConfigFor(context.env));
  else await upOnThisMachine(context);
}

async function upOnThisMachine(context: CommandContext): Promise<void> {
  const { config } = context.loaded;
  const { log } = context;
  const { source } = config;
  if (source.repo === "./faces" || source.repo === "faces") {
    await seedExampleRepository(source.repo, { branch: source.branch, log, env: context.env });
  }
  // One registry: one /metrics shows the service and the controller.
  const registry = new Registry();
  const inference = buildInference(context, registry);
  const follower = followStore(context, inference);
  // The rollout is confirmed when the server has the version loaded; look at the pointer first, so confirmation does not wait for a file event.
  const servedVersion = async () => {
    await follower.check();
    return inference.slot.model?.version ?? null;
  };
  const { controller, router } = buildController(context, localPlatform(context, servedVersion), registry);
  const reviews = buildReviewCommitter(context, inference.inbox, (trigger) => controller.kick(trigger));
  const running = await runUntilSignal({
    app: inferenceApp(context, inference, [router], { onReviewDecision: () => reviews.kick() }),
    name: "inference service",
    address: config.serve,
    log,
    stopping: "stopping: attempts in progress are stopped and re-run at the next start",
    start: async () => {
      await follower.start();
      await controller.start();
      reviews.start();
    },
    stops: [{ what: "the review committer", stop: () => reviews.stop() }, { what: "the controller", stop: () => controller.stop() }, ...stopInference(inference, follower)],
  });
  // The address a browser on this machine opens, as the README writes it.
  const url = running.url.replace(/^http:\/\/(0\.0\.0\.0|127\.0\.0\.1):/, "http://localhost:");
  log.info({ url, repo: source.repo, branch: source.branch }, "faceops is up: commit photos to the repository and open the URL");
}

async function upOnKubernetes(context: CommandContext, cluster: ReturnType<typeof kubeConfigFor>): Promise<void> {
  const { config } = context.loaded;
  const { log } = context;
  const namespace = namespaceFor(config.kubernetes.namespace, cluster.kubeConfig, cluster.inCluster);
  const registry = new Registry();
  registerProcessMetrics(registry);
  const { controller, router } = buildController(context, kubernetesPlatform(context, { kubeConfig: cluster.kubeConfig, namespace }), registry);
  let ready = false;
  const running = await runUntilSignal({
    app: createControllerApp({ registry, log, ready: () => ready, router }),
    name: "controller",
    address: config.serve,
    log,
    stopping: "stopping the controller; training Jobs keep running and are adopted at the next start",
    start: async () => {
      await controller.start();
      ready = true;
    },
    stops: [{ what: "the controller", stop: () => controller.stop() }],
  });
  log.info({ namespace, deployment: config.kubernetes.deployment, url: running.url, inCluster: cluster.inCluster }, "faceops controller is up on Kubernetes");
}
