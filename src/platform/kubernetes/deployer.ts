import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../../log.js";
import type { StoreLayout } from "../../store/layout.js";
import { pointCurrentModel } from "../../store/models.js";
import { rm } from "node:fs/promises";
import type { ModelDeployer } from "../types.js";

/**
 * Rollout to the inference Deployment: its pod template gets the annotation faceops.io/model-version
 * and the env FACEOPS_MODEL_VERSION (each pod then serves exactly that version from the store), so
 * Kubernetes rolls the pods one by one and a pod is ready only once the version is loaded. The
 * rollout is done when the Deployment says so the way `kubectl rollout status` reads it
 * (observedGeneration, updated, total and available replicas); Progressing=False with
 * ProgressDeadlineExceeded is a failed rollout. The store's pointer moves too, for `faceops status`
 * and for servers that follow it.
 *
 * API use, and therefore the Role in k8s/base: deployments get, patch.
 */

export const versionAnnotation = "faceops.io/model-version";
export const versionEnv = "FACEOPS_MODEL_VERSION";

export interface KubernetesDeployerOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  deployment: string;
  store: StoreLayout;
  log: Logger;
}

export class KubernetesDeployer implements ModelDeployer {
  private readonly apps: k8s.AppsV1Api;

  constructor(private readonly options: KubernetesDeployerOptions) {
    this.apps = options.kubeConfig.makeApiClient(k8s.AppsV1Api);
  }

  async rollout(version: string, reason: string): Promise<void> {
    await pointCurrentModel(this.options.store, version, reason);
    await this.setVersion(version);
    this.options.log.info({ deployment: this.options.deployment, version }, "inference Deployment patched; rolling");
  }

  async servedVersion(): Promise<string | null> {
    const deployment = await this.read();
    return rolloutStatus(deployment).done ? (deployment.spec?.template.metadata?.annotations?.[versionAnnotation] ?? null) : null;
  }

  async rolloutFailure(version: string): Promise<string | null> {
    const deployment = await this.read();
    if (deployment.spec?.template.metadata?.annotations?.[versionAnnotation] !== version) return null;
    return rolloutStatus(deployment).failure;
  }

  async rollback(version: string, previous: string | null, reason: string): Promise<void> {
    const { store, log, deployment } = this.options;
    if (previous) await pointCurrentModel(store, previous, `rollback from ${version}: ${reason}`);
    else await rm(store.currentModel, { force: true });
    await this.setVersion(previous ?? "");
    log.warn({ deployment, version, previous, reason }, "inference Deployment rolled back");
  }

  private async read(): Promise<k8s.V1Deployment> {
    return this.apps.readNamespacedDeployment({ namespace: this.options.namespace, name: this.options.deployment });
  }

  /** A strategic merge patch of the template: the annotation, and the env of the serving container (merged by name). */
  private async setVersion(version: string): Promise<void> {
    const { namespace, deployment } = this.options;
    const current = await this.read();
    const containers = current.spec?.template.spec?.containers ?? [];
    const container = containers.find((entry) => entry.name === "faceops") ?? containers[0];
    if (!container) throw new Error(`the Deployment ${namespace}/${deployment} has no container to give the model version to`);
    const body = {
      spec: {
        template: {
          metadata: { annotations: { [versionAnnotation]: version } },
          spec: { containers: [{ name: container.name, env: [{ name: versionEnv, value: version }] }] },
        },
      },
    };
    await this.apps.patchNamespacedDeployment({ namespace, name: deployment, body }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch));
  }
}

/** `kubectl rollout status` for a Deployment: done, still rolling, or failed (with the reason). */
export function rolloutStatus(deployment: k8s.V1Deployment): { done: boolean; failure: string | null } {
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  const wanted = deployment.spec?.replicas ?? 1;
  // Until the controller has seen the latest template, every condition is about an older one.
  if ((status.observedGeneration ?? 0) < generation) return { done: false, failure: null };
  const progressing = status.conditions?.find((condition) => condition.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return { done: false, failure: `Deployment ${deployment.metadata?.name ?? ""} exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ""}` };
  }
  const updated = status.updatedReplicas ?? 0;
  const done = updated >= wanted && (status.replicas ?? 0) <= updated && (status.availableReplicas ?? 0) >= updated;
  return { done, failure: null };
}
