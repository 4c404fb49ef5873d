import * as k8s from "@kubernetes/client-node";
import type { KubernetesConfig } from "../../config/schema.js";
import type { AttemptResult } from "../../records/attempt-result.js";
import { readRun, type AttemptRecord, type RunRecord } from "../../records/runs.js";
import type { Logger } from "../../log.js";
import { systemClock, type Clock } from "../../util/clock.js";
import { readJsonOr } from "../../store/files.js";
import type { StoreLayout } from "../../store/layout.js";
import type { AttemptObservation, ProcessRef, TrainingExecutor } from "../types.js";
import { jobFor, jobName, trainerSelector } from "./job.js";

/**
 * Attempts as Kubernetes Jobs. Jobs and their pods are watched through informers (which re-list
 * after a 410 Gone); a create that answers 409 means the Job is already there (a controller
 * restarted mid-attempt) and it is adopted, never created twice. Results are read from the store,
 * which the Job's pod mounts. A pod left Pending because it cannot be scheduled is reported with
 * the scheduler's message and fails the attempt after `kubernetes.pendingTimeout`; so does a Job
 * that creates no pod at all for that long (the API server refuses its pods: a missing
 * ServiceAccount, an exhausted quota, a Pod Security violation), with the Job controller's
 * FailedCreate message, read from the Job's events once, when the attempt is failed.
 *
 * API use, and therefore the Role in k8s/base: jobs create, get, list, watch, delete; pods list,
 * watch; events list.
 */

export interface KubernetesExecutorOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  kubernetes: KubernetesConfig;
  store: StoreLayout;
  log: Logger;
  /** Seconds after which a Job is stopped by Kubernetes (the controller's attempt timeout). */
  activeDeadlineSeconds: number;
  /** Called when a Job or its pod changes, so the controller looks at once. */
  onChange?: () => void;
  /** The time, for how long a pod has been pending; the machine's clock by default. */
  clock?: Clock;
}

type Informer<T extends k8s.KubernetesObject> = k8s.Informer<T> & k8s.ObjectCache<T>;

export class KubernetesExecutor implements TrainingExecutor {
  private readonly batch: k8s.BatchV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly jobs: Informer<k8s.V1Job>;
  private readonly pods: Informer<k8s.V1Pod>;
  private started: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: KubernetesExecutorOptions) {
    const { kubeConfig, namespace } = options;
    this.batch = kubeConfig.makeApiClient(k8s.BatchV1Api);
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.jobs = k8s.makeInformer(kubeConfig, `/apis/batch/v1/namespaces/${namespace}/jobs`, () => this.batch.listNamespacedJob({ namespace, labelSelector: trainerSelector }), trainerSelector);
    this.pods = k8s.makeInformer(kubeConfig, `/api/v1/namespaces/${namespace}/pods`, () => this.core.listNamespacedPod({ namespace, labelSelector: trainerSelector }), trainerSelector);
    this.follow("jobs", this.jobs);
    this.follow("pods", this.pods);
  }

  private follow<T extends k8s.KubernetesObject>(what: string, informer: Informer<T>): void {
    const changed = () => this.options.onChange?.();
    informer.on("change", changed);
    informer.on("add", changed);
    informer.on("delete", changed);
    informer.on("error", (error: unknown) => {
      if (this.stopped) return;
      this.options.log.warn({ err: error, watching: what }, "watch failed; re-listing shortly");
      setTimeout(() => void informer.start().catch(() => undefined), 2_000).unref();
    });
  }

  private get now(): number {
    return (this.options.clock ?? systemClock).now();
  }

  /** Lists and starts watching once; every inspect reads the informers' caches. */
  private start(): Promise<void> {
    this.started ??= Promise.all([this.jobs.start(), this.pods.start()]).then(() => undefined);
    return this.started;
  }

  async launch(runId: string, attempt: number): Promise<ProcessRef | null> {
    const { namespace, kubernetes, store, log } = this.options;
    await this.start();
    const run = await readRun(store, runId);
    const record = run?.attempts[attempt - 1];
    if (!run || !record) throw new Error(`run ${runId} has no attempt ${attempt} to launch`);
    const body = jobFor({
      runId,
      attempt,
      runCreatedAt: run.createdAt,
      commit: run.commit,
      hyperparameters: record.hyperparameters,
      reason: record.reason,
      namespace,
      kubernetes,
      activeDeadlineSeconds: this.options.activeDeadlineSeconds,
    }) as k8s.V1Job;
    const name = jobName(runId, attempt);
    try {
      await this.batch.createNamespacedJob({ namespace, body });
      log.info({ run: runId, attempt, job: name, namespace }, "training Job created");
    } catch (error) {
      if (!(error instanceof k8s.ApiException) || error.code !== 409) throw error;
      const existing = await this.batch.readNamespacedJob({ namespace, name });
      const foreign = foreignJob(existing, run, attempt, namespace);
      if (foreign) throw new Error(foreign, { cause: error });
      log.info({ run: runId, attempt, job: name }, "training Job already exists: adopted");
    }
    return null;
  }

  async inspect(run: RunRecord, { number: attempt }: AttemptRecord): Promise<AttemptObservation> {
    const runId = run.id;
    await this.start();
    const { store, namespace, kubernetes } = this.options;
    const result = await readJsonOr<AttemptResult | null>(store.attempt(runId, attempt).result, null).catch(() => null);
    const name = jobName(runId, attempt);
    const job = this.jobs.get(name, namespace);
    if (result) return { alive: job ? !finished(job) : false, result };
    if (!job) return { alive: false, result: null };
    const foreign = foreignJob(job, run, attempt, namespace);
    if (foreign) return { alive: false, result: { ok: false, error: foreign, permanent: true, durationSeconds: 0 } };
    const failed = job.status?.conditions?.find((condition) => condition.type === "Failed" && condition.status === "True");
    if (failed) {
      return { alive: false, result: { ok: false, error: `Job ${name} failed: ${failed.reason ?? "Failed"}${failed.message ? `: ${failed.message}` : ""}${this.exitCodes(name)}`, permanent: false, durationSeconds: 0 } };
    }
    if (finished(job)) return { alive: false, result: null };
    const pending = this.unschedulable(name);
    if (pending) {
      const waited = this.now - pending.since;
      if (waited > kubernetes.pendingTimeout) {
        await this.stop(runId, attempt, "unschedulable");
        const error = `Job ${name} could not be scheduled for ${Math.round(waited / 1000)} s: ${pending.message}`;
        return { alive: false, result: { ok: false, error, permanent: false, durationSeconds: waited / 1000 }, detail: error };
      }
      return { alive: true, result: null, detail: `waiting to be scheduled: ${pending.message}` };
    }
    if (!this.hasPods(name)) {
      const created = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp).getTime() : this.now;
      const waited = this.now - (Number.isFinite(created) ? created : this.now);
      if (waited > kubernetes.pendingTimeout) {
        const why = await this.failedCreate(name);
        await this.stop(runId, attempt, "no pod");
        const error =
          `Job ${name} created no pod in ${Math.round(waited / 1000)} s: ${why ?? "no FailedCreate event says why"} ` +
          `(see kubectl -n ${namespace} describe job ${name}; the training pods run as the ServiceAccount ${kubernetes.trainerServiceAccount}, which must exist)`;
        return { alive: false, result: { ok: false, error, permanent: false, durationSeconds: waited / 1000 }, detail: error };
      }
    }
    return { alive: true, result: null, detail: null };
  }

  private hasPods(job: string): boolean {
    return this.pods.list(this.options.namespace).some((pod) => pod.metadata?.labels?.["job-name"] === job);
  }

  /** The newest FailedCreate message of the Job's events, e.g. the API server refusing its pods; null when none or unreadable. */
  private async failedCreate(job: string): Promise<string | null> {
    try {
      const events = await this.core.listNamespacedEvent({ namespace: this.options.namespace, fieldSelector: `involvedObject.kind=Job,involvedObject.name=${job},reason=FailedCreate` });
      const newest = events.items.sort((a, b) => eventTime(b) - eventTime(a))[0];
      return newest?.message ?? null;
    } catch (error) {
      this.options.log.warn({ err: error, job }, "reading the Job's events failed; the attempt fails without their message");
      return null;
    }
  }

  /** The newest pod of the Job when the scheduler cannot place it, with its message and since when. */
  private unschedulable(job: string): { message: string; since: number } | null {
    const pods = this.pods.list(this.options.namespace).filter((pod) => pod.metadata?.labels?.["job-name"] === job);
    const newest = pods.sort((a, b) => Date.parse(String(b.metadata?.creationTimestamp ?? 0)) - Date.parse(String(a.metadata?.creationTimestamp ?? 0)))[0];
    if (!newest || newest.status?.phase !== "Pending") return null;
    const scheduled = newest.status.conditions?.find((condition) => condition.type === "PodScheduled");
    if (!scheduled || scheduled.status !== "False" || scheduled.reason !== "Unschedulable") return null;
    const since = Date.parse(String(scheduled.lastTransitionTime ?? newest.metadata?.creationTimestamp ?? new Date(this.now).toISOString()));
    return { message: scheduled.message ?? "Unschedulable", since: Number.isFinite(since) ? since : this.now };
  }

  private exitCodes(job: string): string {
    const codes = this.pods
      .list(this.options.namespace)
      .filter((pod) => pod.metadata?.labels?.["job-name"] === job)
      .flatMap((pod) => pod.status?.containerStatuses ?? [])
      .map((status) => status.state?.terminated?.exitCode)
      .filter((code): code is number => code !== undefined);
    return codes.length > 0 ? ` (exit code${codes.length > 1 ? "s" : ""} ${codes.join(", ")})` : "";
  }

  async stop(runId: string, attempt: number, reason: string): Promise<void> {
    const { namespace, log } = this.options;
    const name = jobName(runId, attempt);
    try {
      await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: "Background" });
      log.info({ run: runId, attempt, job: name, reason }, "training Job deleted");
    } catch (error) {
      if (!(error instanceof k8s.ApiException) || error.code !== 404) throw error;
    }
  }

  /** Jobs run on without the controller; the next one adopts them (a 409 on create, the informers' list). */
  readonly attemptsOnShutdown = "left running";

  /** Stops watching Jobs and pods; the Jobs themselves are left running. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.started) await Promise.all([this.jobs.stop(), this.pods.stop()]);
  }
}

function eventTime(event: k8s.CoreV1Event): number {
  const at = event.lastTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp;
  return at ? new Date(at).getTime() : 0;
}

function finished(job: k8s.V1Job): boolean {
  return (job.status?.conditions ?? []).some((condition) => (condition.type === "Complete" || condition.type === "Failed") && condition.status === "True");
}

/** Why a Job with this attempt's name is not this attempt's (a wiped store's leftover), or null when it is. */
function foreignJob(job: k8s.V1Job, run: RunRecord, attempt: number, namespace: string): string | null {
  const labels = job.metadata?.labels ?? {};
  const createdAt = job.metadata?.annotations?.["faceops.io/run-created-at"];
  if (labels["faceops.io/run"] === run.id && labels["faceops.io/attempt"] === String(attempt) && createdAt === run.createdAt) return null;
  const name = job.metadata?.name ?? jobName(run.id, attempt);
  return (
    `a Job named ${name} exists in ${namespace} but it is not attempt ${attempt} of run ${run.id} created at ${run.createdAt} ` +
    `(it belongs to a run created at ${createdAt ?? "an unknown time"}, from an earlier store?); delete it: kubectl -n ${namespace} delete job ${name}`
  );
}
