import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { KubernetesDeployer } from "../../platform/kubernetes/deployer.js";
import { KubernetesExecutor } from "../../platform/kubernetes/executor.js";
import { LocalDeployer } from "../../platform/local/deployer.js";
import { LocalExecutor } from "../../platform/local/executor.js";
import type { CommandContext } from "../context.js";
import type { ControllerPlatform } from "./controller.js";

/**
 * The two platforms a controller runs on, built from the configuration. Local: attempts are child
 * processes of this program, and a version is in service once this process' inference server has
 * loaded it. Kubernetes: attempts are Jobs, and a version is in service once the inference
 * Deployment has rolled out to it. Only the CLI builds a KubeConfig.
 */

/** This very program, to start attempts with: node, its flags (e.g. a TypeScript loader) and the main script. */
export function faceopsCommand(context: CommandContext): string[] {
  const script = process.argv[1];
  if (!script) throw new Error("cannot tell which script is running, to start attempts with it");
  return [process.execPath, ...process.execArgv, script, ...context.globalArgs];
}

/** Attempts as child processes; `servedVersion` is the version this process' inference server has loaded and ready. */
export function localPlatform(context: CommandContext, servedVersion: () => Promise<string | null>): ControllerPlatform {
  return {
    executor: (kick) =>
      new LocalExecutor({
        store: context.store,
        command: faceopsCommand(context),
        env: context.env,
        log: context.log,
        onExit: () => kick("attempt-exit"),
      }),
    deployer: new LocalDeployer(context.store, servedVersion),
  };
}

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** In a pod: the service account; outside: KUBECONFIG or ~/.kube/config. */
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

/** Attempts as Jobs in `namespace`, rollouts to the inference Deployment (kubernetes.deployment). */
export function kubernetesPlatform(context: CommandContext, cluster: { kubeConfig: k8s.KubeConfig; namespace: string }): ControllerPlatform {
  const { config } = context.loaded;
  const { kubeConfig, namespace } = cluster;
  return {
    executor: (kick) =>
      new KubernetesExecutor({
        kubeConfig,
        namespace,
        kubernetes: config.kubernetes,
        store: context.store,
        log: context.log,
        activeDeadlineSeconds: config.controller.attemptTimeout / 1000,
        onChange: () => kick("kubernetes"),
      }),
    deployer: new KubernetesDeployer({ kubeConfig, namespace, deployment: config.kubernetes.deployment, store: context.store, log: context.log }),
  };
}
