import { randomUUID } from "node:crypto";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IDeploymentCondition } from "kubernetes-models/apps/v1/DeploymentCondition";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IJobCondition } from "kubernetes-models/batch/v1/JobCondition";
import type { Cluster } from "./cluster.js";
import { asPod, podReady, podTerminal, type PodObject } from "./kubelet.js";
import { clone, now, resourceInfo, templateHash, type KObject } from "./resources.js";
import type { StoreEvent } from "./store.js";

type JobObject = IJob & KObject;
type DeploymentObject = IDeployment & KObject;

/** Runs `sync(namespace, name)` once per tick per key, like a controller's work queue. */
class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly later = new Set<NodeJS.Timeout>();
  stopped = false;
  constructor(private readonly sync: (namespace: string, name: string) => void) {}

  stop(): void {
    this.stopped = true;
    for (const timer of this.later) clearTimeout(timer);
    this.later.clear();
  }

  /** Adds the key again after a delay: how the real controllers retry a pod they failed to create (there with a growing back-off). */
  addAfter(namespace: string, name: string, delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.later.delete(timer);
      this.add(namespace, name);
    }, delayMs);
    this.later.add(timer);
  }

  add(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.queued.has(key) || this.stopped) return;
    this.queued.add(key);
    setImmediate(() => {
      this.queued.delete(key);
      if (this.stopped) return;
      try {
        this.sync(namespace, name);
      } catch (error) {
        console.error(`fake kube-apiserver: sync of ${key} failed:`, error);
      }
    });
  }
}

function controllerOf(object: KObject, kind: string): { name: string; uid: string } | null {
  const owner = object.metadata.ownerReferences?.find((reference) => reference.controller && reference.kind === kind);
  return owner ? { name: owner.name, uid: owner.uid } : null;
}

function jobCondition(type: string, reason: string, message: string): IJobCondition {
  return { type, status: "True", lastProbeTime: now(), lastTransitionTime: now(), reason, message };
}

/**
 * The Job controller: one pod per missing completion (up to parallelism), retries failed pods until
 * backoffLimit is exceeded, enforces activeDeadlineSeconds, writes status and conditions as
 * Kubernetes 1.31+ does (FailureTarget/SuccessCriteriaMet before Failed/Complete), honours suspend
 * and ttlSecondsAfterFinished. Retries are immediate (no exponential back-off delay).
 */
export class JobController {
  private readonly counted = new Map<string, { succeeded: Set<string>; failed: Set<string>; timers: NodeJS.Timeout[] }>();
  private readonly queue = new WorkQueue((namespace, name) => this.sync(namespace, name));

  constructor(private readonly cluster: Cluster) {}

  stop(): void {
    this.queue.stop();
    for (const state of this.counted.values()) for (const timer of state.timers) clearTimeout(timer);
  }

  private state(uid: string): { succeeded: Set<string>; failed: Set<string>; timers: NodeJS.Timeout[] } {
    let state = this.counted.get(uid);
    if (!state) {
      state = { succeeded: new Set(), failed: new Set(), timers: [] };
      this.counted.set(uid, state);
    }
    return state;
  }

  onEvent(event: StoreEvent): void {
    if (event.resource === "jobs") {
      if (event.type === "DELETED") {
        const state = this.counted.get(event.object.metadata.uid ?? "");
        for (const timer of state?.timers ?? []) clearTimeout(timer);
        this.counted.delete(event.object.metadata.uid ?? "");
      } else this.queue.add(event.namespace, event.object.metadata.name ?? "");
    }
    if (event.resource === "pods") {
      const owner = controllerOf(event.object, "Job");
      if (!owner) return;
      // A pod that disappears before finishing counts as failed (as with the job-tracking finalizer).
      if (event.type === "DELETED" && !podTerminal(asPod(event.object)) && this.counted.has(owner.uid)) this.state(owner.uid).failed.add(event.object.metadata.uid ?? "");
      this.queue.add(event.namespace, owner.name);
    }
  }

  private sync(namespace: string, name: string): void {
    const found = this.cluster.store.get("jobs", namespace, name);
    if (!found || found.metadata.deletionTimestamp) return;
    const job = found as JobObject;
    const uid = job.metadata?.uid ?? "";
    const spec = job.spec!;
    const state = this.state(uid);
    const pods = this.cluster.store
      .list("pods", namespace)
      .filter((pod) => controllerOf(pod, "Job")?.uid === uid)
      .map(asPod);
    for (const pod of pods) {
      if (pod.status?.phase === "Succeeded") state.succeeded.add(pod.metadata.uid ?? "");
      if (pod.status?.phase === "Failed") state.failed.add(pod.metadata.uid ?? "");
    }
    const active = (): PodObject[] => pods.filter((pod) => !podTerminal(pod) && !pod.metadata.deletionTimestamp && this.cluster.store.has("pods", namespace, pod.metadata.name ?? ""));
    const conditions = [...(job.status?.conditions ?? [])];
    const finished = conditions.some((condition) => (condition.type === "Complete" || condition.type === "Failed") && condition.status === "True");
    const status = { ...job.status };
    const completions = spec.completions ?? 1;
    const parallelism = spec.parallelism ?? 1;
    if (!finished) {
      const suspended = spec.suspend === true;
      if (suspended) {
        for (const pod of active()) this.deletePod(job, pod);
        if (!conditions.some((condition) => condition.type === "Suspended" && condition.status === "True")) {
          const filtered = conditions.filter((condition) => condition.type !== "Suspended");
          conditions.splice(0, conditions.length, ...filtered, jobCondition("Suspended", "JobSuspended", "Job suspended"));
          this.cluster.recordEvent(job, "Normal", "Suspended", "Job suspended", "job-controller");
        }
        delete status.startTime;
      } else {
        const wasSuspended = conditions.findIndex((condition) => condition.type === "Suspended" && condition.status === "True");
        if (wasSuspended >= 0) {
          conditions[wasSuspended] = { ...jobCondition("Suspended", "JobResumed", "Job resumed"), status: "False" };
          this.cluster.recordEvent(job, "Normal", "Resumed", "Job resumed", "job-controller");
        }
        status.startTime ??= now();
        const started = Date.parse(status.startTime);
        const deadline = spec.activeDeadlineSeconds;
        let failure: [string, string] | null = null;
        if (state.failed.size > (spec.backoffLimit ?? 6)) failure = ["BackoffLimitExceeded", "Job has reached the specified backoff limit"];
        else if (deadline !== undefined && Date.now() - started >= deadline * 1000) failure = ["DeadlineExceeded", "Job was active longer than specified deadline"];
        if (failure) {
          for (const pod of active()) {
            state.failed.add(pod.metadata.uid ?? "");
            this.deletePod(job, pod);
          }
          conditions.push(jobCondition("FailureTarget", ...failure), jobCondition("Failed", ...failure));
          this.cluster.recordEvent(job, "Warning", failure[0], failure[1], "job-controller");
          this.finished(job, state.timers);
        } else if (state.succeeded.size >= completions) {
          conditions.push(jobCondition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"), jobCondition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"));
          status.completionTime = now();
          this.cluster.recordEvent(job, "Normal", "Completed", "Job completed", "job-controller");
          this.finished(job, state.timers);
        } else {
          const missing = Math.min(parallelism, completions - state.succeeded.size) - active().length;
          for (let i = 0; i < missing; i += 1) this.createPod(job);
          if (deadline !== undefined && state.timers.length === 0)
            state.timers.push(setTimeout(() => this.queue.add(namespace, name), Math.max(0, started + deadline * 1000 - Date.now()) + 20));
        }
      }
    }
    const current = this.cluster.store
      .list("pods", namespace)
      .filter((pod) => controllerOf(pod, "Job")?.uid === uid)
      .map(asPod);
    const activeNow = current.filter((pod) => !podTerminal(pod) && !pod.metadata.deletionTimestamp);
    const next: NonNullable<IJob["status"]> = { ...status, conditions: conditions.length > 0 ? conditions : undefined };
    next.active = activeNow.length || undefined;
    next.ready = activeNow.filter(podReady).length;
    next.succeeded = state.succeeded.size || undefined;
    next.failed = state.failed.size || undefined;
    next.terminating = current.filter((pod) => pod.metadata.deletionTimestamp && !podTerminal(pod)).length;
    next.uncountedTerminatedPods = {};
    this.cluster.store.mutate("jobs", namespace, name, (object) => {
      object.status = JSON.parse(JSON.stringify(next)) as unknown;
    });
  }

  private finished(job: JobObject, timers: NodeJS.Timeout[]): void {
    for (const timer of timers.splice(0)) clearTimeout(timer);
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl === undefined) return;
    const { namespace = "", name = "" } = job.metadata ?? {};
    timers.push(
      setTimeout(() => {
        try {
          this.cluster.deleteObject(resourceInfo("jobs"), namespace, name, { propagationPolicy: "Background" });
        } catch {
          // Already gone.
        }
      }, ttl * 1000),
    );
  }

  private createPod(job: JobObject): void {
    const { namespace = "", name = "", uid = "" } = job.metadata ?? {};
    const template = clone(job.spec!.template);
    const pod: KObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: `${name}-`,
        namespace,
        labels: { ...template.metadata?.labels, "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: template.spec,
    };
    try {
      const created = this.cluster.createInternal(resourceInfo("pods"), pod);
      this.cluster.recordEvent(job, "Normal", "SuccessfulCreate", `Created pod: ${created.metadata.name}`, "job-controller");
    } catch (error) {
      this.cluster.recordEvent(job, "Warning", "FailedCreate", `Error creating: ${(error as Error).message}`, "job-controller");
      this.queue.addAfter(namespace, name, 1_000);
    }
  }

  private deletePod(job: JobObject, pod: PodObject): void {
    this.cluster.kubelet.deletePod(pod.metadata.namespace ?? "", pod.metadata.name ?? "");
    this.cluster.recordEvent(job, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`, "job-controller");
  }
}

interface RolloutState {
  revision: number;
  /** The (virtual) ReplicaSet uid per pod-template-hash. */
  replicaSets: Map<string, string>;
  rolloutHash: string | null;
  rolloutStart: number;
  timer: NodeJS.Timeout | null;
}

function deploymentCondition(existing: IDeploymentCondition[], type: string, ok: boolean, reason: string, message: string): IDeploymentCondition {
  const old = existing.find((condition) => condition.type === type);
  const status = ok ? "True" : "False";
  if (old && old.status === status && old.reason === reason && old.message === message) return old;
  const at = now();
  return { type, status, lastUpdateTime: at, lastTransitionTime: old && old.status === status ? (old.lastTransitionTime ?? at) : at, reason, message };
}

/**
 * The Deployment controller with its ReplicaSets folded in (they are not served): at most one pod
 * per template (replicas > 1 are treated as 1), surge-then-retire rollouts, progress deadline, and
 * status/conditions as the real controller writes them.
 */
export class DeploymentController {
  private readonly states = new Map<string, RolloutState>();
  private readonly owners = new Map<string, { namespace: string; name: string }>();
  /** Pod uid -> creation sequence number (creationTimestamp has only second precision). */
  private readonly createdOrder = new Map<string, number>();
  private readonly queue = new WorkQueue((namespace, name) => this.sync(namespace, name));

  constructor(private readonly cluster: Cluster) {}

  stop(): void {
    this.queue.stop();
    for (const state of this.states.values()) if (state.timer) clearTimeout(state.timer);
  }

  onEvent(event: StoreEvent): void {
    if (event.resource === "deployments") {
      if (event.type === "DELETED") {
        const state = this.states.get(event.object.metadata.uid ?? "");
        if (state?.timer) clearTimeout(state.timer);
      } else this.queue.add(event.namespace, event.object.metadata.name ?? "");
    }
    if (event.resource === "pods") {
      const owner = controllerOf(event.object, "ReplicaSet");
      const deployment = owner && this.owners.get(owner.uid);
      if (deployment) this.queue.add(deployment.namespace, deployment.name);
    }
  }

  /** Pods of a Deployment (through its virtual ReplicaSets), terminating ones included. */
  dependents(deploymentUid: string, namespace: string): PodObject[] {
    const replicaSets = new Set(this.states.get(deploymentUid)?.replicaSets.values() ?? []);
    return this.cluster.store
      .list("pods", namespace)
      .filter((pod) => replicaSets.has(controllerOf(pod, "ReplicaSet")?.uid ?? ""))
      .map(asPod);
  }

  /** The URL of the newest ready pod process of a Deployment. */
  endpoint(namespace: string, name: string): string | null {
    const deployment = this.cluster.store.get("deployments", namespace, name);
    if (!deployment) return null;
    const ready = this.dependents(deployment.metadata.uid ?? "", namespace)
      .filter((pod) => podReady(pod) && !pod.metadata.deletionTimestamp)
      .sort((a, b) => (this.createdOrder.get(b.metadata.uid ?? "") ?? 0) - (this.createdOrder.get(a.metadata.uid ?? "") ?? 0));
    for (const pod of ready) {
      const url = this.cluster.kubelet.endpoint(pod.metadata.uid ?? "");
      if (url) return url;
    }
    return null;
  }

  private sync(namespace: string, name: string): void {
    const found = this.cluster.store.get("deployments", namespace, name);
    if (!found || found.metadata.deletionTimestamp) return;
    const deployment = found as DeploymentObject;
    const uid = deployment.metadata?.uid ?? "";
    let state = this.states.get(uid);
    if (!state) {
      state = { revision: 0, replicaSets: new Map(), rolloutHash: null, rolloutStart: Date.now(), timer: null };
      this.states.set(uid, state);
    }
    const spec = deployment.spec!;
    const desired = (spec.replicas ?? 1) > 0 ? 1 : 0;
    const hash = templateHash(spec.template);
    const replicaSetName = `${name}-${hash}`;
    if (!state.replicaSets.has(hash)) {
      const replicaSetUid = randomUUID();
      state.replicaSets.set(hash, replicaSetUid);
      this.owners.set(replicaSetUid, { namespace, name });
    }
    let created = false;
    const live = (): PodObject[] => this.dependents(uid, namespace).filter((pod) => !pod.metadata.deletionTimestamp);
    const isNew = (pod: PodObject): boolean => pod.metadata.labels?.["pod-template-hash"] === hash;
    if (state.rolloutHash !== hash) {
      state.rolloutHash = hash;
      state.rolloutStart = Date.now();
      state.revision += 1;
    }
    const revision = String(state.revision);
    if (deployment.metadata?.annotations?.["deployment.kubernetes.io/revision"] !== revision)
      this.cluster.store.mutate("deployments", namespace, name, (object) => {
        object.metadata.annotations = { ...object.metadata.annotations, "deployment.kubernetes.io/revision": revision };
      });
    if (desired === 0) {
      for (const pod of live()) this.retire(deployment, pod);
    } else {
      if (!live().some(isNew)) {
        created = this.createPod(deployment, hash, state.replicaSets.get(hash)!);
      }
      const newReady = live().some((pod) => isNew(pod) && podReady(pod));
      for (const pod of live()) if (!isNew(pod) && (newReady || !podReady(pod))) this.retire(deployment, pod);
    }
    const pods = live();
    const updated = pods.filter(isNew).length;
    const ready = pods.filter(podReady).length;
    const available = ready;
    const complete = desired === 0 ? pods.length === 0 : updated === 1 && pods.length === 1 && ready === 1;
    const deadlineMs = (spec.progressDeadlineSeconds ?? 600) * 1000;
    const exceeded = !complete && Date.now() - state.rolloutStart >= deadlineMs;
    const existing = deployment.status?.conditions ?? [];
    const availableCondition =
      available >= desired
        ? deploymentCondition(existing, "Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.")
        : deploymentCondition(existing, "Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.");
    const progressing = complete
      ? deploymentCondition(existing, "Progressing", true, "NewReplicaSetAvailable", `ReplicaSet "${replicaSetName}" has successfully progressed.`)
      : exceeded
        ? deploymentCondition(existing, "Progressing", false, "ProgressDeadlineExceeded", `ReplicaSet "${replicaSetName}" has timed out progressing.`)
        : created
          ? deploymentCondition(existing, "Progressing", true, "NewReplicaSetCreated", `Created new replica set "${replicaSetName}"`)
          : deploymentCondition(existing, "Progressing", true, "ReplicaSetUpdated", `ReplicaSet "${replicaSetName}" is progressing.`);
    if (state.timer) clearTimeout(state.timer);
    state.timer = !complete && !exceeded ? setTimeout(() => this.queue.add(namespace, name), state.rolloutStart + deadlineMs - Date.now() + 20) : null;
    const status: NonNullable<IDeployment["status"]> = { observedGeneration: deployment.metadata?.generation, conditions: [availableCondition, progressing] };
    if (pods.length) status.replicas = pods.length;
    if (updated) status.updatedReplicas = updated;
    if (ready) status.readyReplicas = ready;
    if (available) status.availableReplicas = available;
    const unavailable = Math.max(0, Math.max(desired, pods.length) - available);
    if (unavailable) status.unavailableReplicas = unavailable;
    this.cluster.store.mutate("deployments", namespace, name, (object) => {
      object.status = status;
    });
  }

  private createPod(deployment: DeploymentObject, hash: string, replicaSetUid: string): boolean {
    const { namespace = "", name = "" } = deployment.metadata ?? {};
    const template = clone(deployment.spec!.template);
    const replicaSetName = `${name}-${hash}`;
    const pod: KObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: `${replicaSetName}-`,
        namespace,
        labels: { ...template.metadata?.labels, "pod-template-hash": hash },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSetName, uid: replicaSetUid, controller: true, blockOwnerDeletion: true }],
      },
      spec: template.spec,
    };
    try {
      const created = this.cluster.createInternal(resourceInfo("pods"), pod);
      this.createdOrder.set(created.metadata.uid ?? "", this.createdOrder.size + 1);
      this.cluster.recordEvent(deployment, "Normal", "ScalingReplicaSet", `Scaled up replica set ${replicaSetName} from 0 to 1`, "deployment-controller");
      return true;
    } catch (error) {
      this.cluster.recordEvent(deployment, "Warning", "FailedCreate", `Error creating: ${(error as Error).message}`, "deployment-controller");
      this.queue.addAfter(namespace, name, 1_000);
      return false;
    }
  }

  private retire(deployment: DeploymentObject, pod: PodObject): void {
    const replicaSetName = `${deployment.metadata?.name}-${pod.metadata.labels?.["pod-template-hash"]}`;
    this.cluster.kubelet.deletePod(pod.metadata.namespace ?? "", pod.metadata.name ?? "");
    this.cluster.recordEvent(deployment, "Normal", "ScalingReplicaSet", `Scaled down replica set ${replicaSetName} from 1 to 0`, "deployment-controller");
  }
}
