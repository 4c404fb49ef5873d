import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import { createControllerApp } from "../../controller/app.js";
import { Controller } from "../../controller/controller.js";
import { DatasetWatch } from "../../controller/dataset-watch.js";
import { controllerRouter } from "../../controller/http.js";
import { createControllerMetrics } from "../../metrics/controller-metrics.js";
import { KubernetesDeployer } from "../../platform/kubernetes/deployer.js";
import { KubernetesExecutor } from "../../platform/kubernetes/executor.js";
import { listen } from "../../http/server.js";
import { gitCredentials, readSecret, type CommandContext } from "../context.js";
import { controllerSettings } from "./controller-setup.js";

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** In a pod: the service account; outside: KUBECONFIG or ~/.kube/config. Only the CLI builds a KubeConfig. */
export function kubeConfigFor(env: NodeJS.ProcessEnv): { kubeConfig: k8s.KubeConfig; inCluster: boolean } {
  const kubeConfig = new k8s.KubeConfig();
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT);
  if (inCluster) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  return { kubeConfig, inCluster };
}

/** kubernetes.namespace, else the pod's own namespace, else the kubeconfig context's, else "default". */
export function namespaceFor(configured: string, kubeConfig: k8s.KubeConfig, inCluster: boolean): string {
  if (configured) return configured;
  if (inCluster) {
    try {
      return readFileSync(serviceAccountNamespace, "utf8").trim();
    } catch {
      // fall through to the context
    }
  }
  return kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? "default";
}

/**
 * `faceops up --platform kubernetes`: the controller alone (training runs as Jobs, serving is the
 * inference Deployment), with its health, metrics and API on serve.port.
 */
export async function kubernetesUpCommand(context: CommandContext, cluster = kubeConfigFor(context.env)): Promise<void> {
  const { config, log } = { config: context.loaded.config, log: context.log };
  const namespace = namespaceFor(config.kubernetes.namespace, cluster.kubeConfig, cluster.inCluster);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  const metrics = createControllerMetrics(registry);
  let controller: Controller | null = null;
  const executor = new KubernetesExecutor({
    kubeConfig: cluster.kubeConfig,
    namespace,
    kubernetes: config.kubernetes,
    store: context.store,
    log,
    activeDeadlineSeconds: config.controller.attemptTimeout / 1000,
    onChange: () => controller?.kick("kubernetes"),
  });
  const deployer = new KubernetesDeployer({ kubeConfig: cluster.kubeConfig, namespace, deployment: config.kubernetes.deployment, store: context.store, log });
  controller = new Controller({
    store: context.store,
    watch: new DatasetWatch({
      location: config.source.repo,
      branch: config.source.branch,
      dataset: config.dataset,
      store: context.store,
      log,
      env: context.env,
      credentials: gitCredentials(context),
    }),
    executor,
    deployer,
    settings: controllerSettings(context),
    metrics,
    log,
    pollIntervalMs: config.controller.pollInterval,
    runConfig: config,
  });
  const running = controller;
  let ready = false;
  const app = createControllerApp({
    registry,
    log,
    ready: () => ready,
    router: controllerRouter({
      store: context.store,
      branch: config.source.branch,
      apiToken: readSecret(context, "FACEOPS_API_TOKEN", config.controller.apiTokenFile, "API token"),
      webhookSecret: readSecret(context, "FACEOPS_WEBHOOK_SECRET", config.controller.webhookSecretFile, "webhook secret"),
      kick: (trigger) => running.kick(trigger),
      watching: () => running.watching,
      resolveCommit: (revision) => running.resolveCommit(revision),
      log,
    }),
  });
  const server = await listen(app, { name: "controller", port: config.serve.port, host: config.serve.host, graceMs: config.serve.gracePeriod, log });
  const stop = (signal: string) =>
    void (async () => {
      log.info({ signal }, "stopping the controller; training Jobs keep running and are adopted at the next start");
      await running.stop();
      await server.shutdown(signal);
      process.exit(0);
    })();
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  try {
    await running.start();
    ready = true;
  } catch (error) {
    await server.shutdown("start-up failed");
    throw error;
  }
  log.info({ namespace, deployment: config.kubernetes.deployment, url: server.url, inCluster: cluster.inCluster }, "faceops controller is up on Kubernetes");
}
