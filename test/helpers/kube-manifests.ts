import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { loadConfig, type LoadedConfig } from "../../src/config/load.js";
import type { KubernetesConfig } from "../../src/config/schema.js";
import { jobFor } from "../../src/platform/kubernetes/job.js";
import type { KubeObject } from "./kubectl.js";

/**
 * Reading a render of k8s/ the way the cluster would: the pod templates of its workloads, and the
 * training Job the controller Deployment of that render would create (src/platform/kubernetes/job.ts
 * with k8s/base/faceops.yaml and the controller container's environment, as `faceops up` loads them).
 */

const root = fileURLToPath(new URL("../../", import.meta.url));

export interface PodTemplate {
  /** "Deployment faceops-inference" */
  owner: string;
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  labels: Record<string, string>;
  spec: IPodSpec;
}

interface TemplateHolder {
  template?: { metadata?: PodTemplate["metadata"]; spec: IPodSpec };
  jobTemplate?: { spec: { template: { metadata?: PodTemplate["metadata"]; spec: IPodSpec } } };
}

/** The pod templates of every workload in a render. */
export function podTemplates(objects: readonly KubeObject[]): PodTemplate[] {
  const templates: PodTemplate[] = [];
  for (const object of objects) {
    const spec = object.spec as TemplateHolder | undefined;
    const template = ["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"].includes(object.kind) ? spec?.template : object.kind === "CronJob" ? spec?.jobTemplate?.spec.template : undefined;
    if (template) templates.push({ owner: `${object.kind} ${object.metadata.name}`, metadata: template.metadata ?? {}, labels: template.metadata?.labels ?? {}, spec: template.spec });
  }
  return templates;
}

/** The configuration the controller of this render runs with: faceops.yaml plus its container's plain env values. */
export async function controllerConfig(objects: readonly KubeObject[]): Promise<LoadedConfig> {
  const controller = objects.find((object) => object.kind === "Deployment" && object.metadata.name === "faceops-controller") as { spec: { template: { spec: IPodSpec } } } | undefined;
  if (!controller) throw new Error("the render holds no Deployment faceops-controller");
  const env = Object.fromEntries((controller.spec.template.spec.containers[0]?.env ?? []).flatMap((variable) => (variable.value !== undefined ? [[variable.name, variable.value]] : [])));
  return loadConfig({ file: join(root, "k8s/base/faceops.yaml"), env });
}

/** The Job of attempt 2 of run 7, as that controller would create it; `changes` override its kubernetes settings. */
export async function trainingJob(objects: readonly KubeObject[], changes: Partial<KubernetesConfig> = {}): Promise<IJob & KubeObject> {
  const { config } = await controllerConfig(objects);
  return jobFor({
    runId: "7",
    attempt: 2,
    runCreatedAt: "2026-01-01T00:00:00.000Z",
    commit: "b".repeat(40),
    hyperparameters: { epochs: 5, learningRate: 0.001, dropout: 0.5 },
    reason: "a test",
    namespace: "faceops",
    kubernetes: { ...config.kubernetes, ...changes },
    activeDeadlineSeconds: 3600,
  }) as unknown as IJob & KubeObject;
}

/** The training Job's pod template, as podTemplates() gives the others. */
export function jobTemplate(job: IJob & KubeObject, owner = `Job ${job.metadata.name}`): PodTemplate {
  const template = job.spec?.template;
  if (!template?.spec) throw new Error(`${owner} has no pod template`);
  return { owner, metadata: template.metadata ?? {}, labels: template.metadata?.labels ?? {}, spec: template.spec };
}
