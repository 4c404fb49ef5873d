import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createConnection } from "node:net";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodCondition } from "kubernetes-models/v1/PodCondition";
import type { IContainerStatus } from "kubernetes-models/v1/ContainerStatus";
import { freePort } from "../net.js";
import type { Cluster } from "./cluster.js";
import { now, type KObject } from "./resources.js";
import type { StoreEvent } from "./store.js";

/**
 * The scheduler and the kubelets of every node, in one: binds pods to nodes (nodeSelector and
 * nvidia.com/gpu only), runs the first container of each bound pod as a local process in its own
 * process group, writes pod status as the kubelet would, probes readiness, and terminates pods
 * gracefully (SIGTERM to the group, SIGKILL after the grace period).
 */

interface Runtime {
  uid: string;
  namespace: string;
  name: string;
  child: ChildProcess | null;
  exited: Promise<void>;
  markExited: () => void;
  exitCode: number | null;
  port: number | null;
  ready: boolean;
  deleting: boolean;
  /** The next readiness probe and the SIGKILL at the end of a grace period. */
  timers: { probe?: NodeJS.Timeout; kill?: NodeJS.Timeout };
  startedAt: string;
  containerId: string;
}

export type PodObject = IPod & KObject;

export function asPod(object: KObject): PodObject {
  return object as PodObject;
}

export function podReady(pod: PodObject): boolean {
  return pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false;
}

export function podTerminal(pod: PodObject): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

export function setCondition<T extends { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }>(
  conditions: T[],
  condition: T,
): T[] {
  const existing = conditions.find((candidate) => candidate.type === condition.type);
  if (existing && existing.status === condition.status) {
    condition.lastTransitionTime = existing.lastTransitionTime ?? condition.lastTransitionTime;
  }
  return [...conditions.filter((candidate) => candidate !== existing), condition];
}

function podCondition(type: string, status: boolean, reason?: string, message?: string): IPodCondition {
  const condition: IPodCondition = { type, status: status ? "True" : "False", lastProbeTime: null as unknown as string, lastTransitionTime: now() };
  if (reason) condition.reason = reason;
  if (message) condition.message = message;
  return condition;
}

function gpuRequest(pod: PodObject): number {
  let total = 0;
  for (const container of pod.spec?.containers ?? []) {
    const value = container.resources?.limits?.["nvidia.com/gpu"] ?? container.resources?.requests?.["nvidia.com/gpu"] ?? 0;
    total += Number.parseInt(String(value), 10) || 0;
  }
  return total;
}

function httpProbe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs, headers: { "User-Agent": "kube-probe/1.34" } }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function tcpProbe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port, timeout: timeoutMs });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(false));
  });
}

export class Kubelet {
  private readonly runtimes = new Map<string, Runtime>();
  /** Pods whose start failed for a reason that can resolve itself (a missing Secret): retried. */
  private readonly pendingConfig = new Set<string>();
  private readonly queued = new Set<string>();
  private stopped = false;

  constructor(private readonly cluster: Cluster) {}

  onEvent(event: StoreEvent): void {
    if (event.resource === "pods") {
      if (event.type === "DELETED") {
        const runtime = this.runtimes.get(event.object.metadata.uid ?? "");
        if (runtime) this.kill(runtime, "SIGKILL");
        this.rescheduleAll();
      } else this.queue(event.namespace, event.object.metadata.name ?? "");
      if (event.type === "MODIFIED" && podTerminal(asPod(event.object)) && !podTerminal(asPod(event.previous!))) this.rescheduleAll();
    }
    if ((event.resource === "secrets" || event.resource === "configmaps") && this.pendingConfig.size > 0) {
      for (const key of this.pendingConfig) {
        const [namespace, name] = key.split("/") as [string, string];
        this.queue(namespace, name);
      }
    }
  }

  private rescheduleAll(): void {
    for (const pod of this.cluster.store.list("pods", null).map(asPod)) if (!pod.spec?.nodeName && !pod.metadata.deletionTimestamp) this.queue(pod.metadata.namespace ?? "", pod.metadata.name ?? "");
  }

  private queue(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.queued.has(key) || this.stopped) return;
    this.queued.add(key);
    setImmediate(() => {
      this.queued.delete(key);
      if (!this.stopped) this.sync(namespace, name).catch((error: unknown) => console.error(`fake kube-apiserver: kubelet sync of ${key} failed:`, error));
    });
  }

  private writeStatus(pod: PodObject, change: (pod: PodObject) => void): PodObject | null {
    const updated = this.cluster.store.mutate("pods", pod.metadata.namespace ?? "", pod.metadata.name ?? "", (object) => change(asPod(object)));
    return updated && asPod(updated);
  }

  private async sync(namespace: string, name: string): Promise<void> {
    const found = this.cluster.store.get("pods", namespace, name);
    if (!found) return;
    const pod = asPod(found);
    if (pod.metadata.deletionTimestamp || podTerminal(pod)) return;
    if (!pod.spec?.nodeName) {
      this.schedule(pod);
      return;
    }
    const uid = pod.metadata.uid ?? "";
    if (this.runtimes.has(uid)) return;
    await this.start(pod);
  }

  // ------------------------------------------------------------------------------------------
  // Scheduler

  private schedule(pod: PodObject): void {
    const nodes = this.cluster.store.list("nodes", null);
    const wanted = gpuRequest(pod);
    const selector = pod.spec?.nodeSelector ?? {};
    const used = new Map<string, number>();
    for (const other of this.cluster.store.list("pods", null).map(asPod)) {
      if (other.spec?.nodeName && !podTerminal(other)) used.set(other.spec.nodeName, (used.get(other.spec.nodeName) ?? 0) + gpuRequest(other));
    }
    const reasons = new Map<string, number>();
    const preemption = new Map<string, number>();
    const bump = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
    const fitting: string[] = [];
    for (const node of nodes) {
      const nodeName = node.metadata.name ?? "";
      const labels = node.metadata.labels ?? {};
      if (!Object.entries(selector).every(([key, value]) => labels[key] === value)) {
        bump(reasons, "node(s) didn't match Pod's node affinity/selector");
        bump(preemption, "Preemption is not helpful for scheduling");
        continue;
      }
      const status = node.status as { allocatable?: Record<string, string> } | undefined;
      const allocatable = Number.parseInt(status?.allocatable?.["nvidia.com/gpu"] ?? "0", 10);
      if (wanted > 0 && wanted > allocatable - (used.get(nodeName) ?? 0)) {
        bump(reasons, "Insufficient nvidia.com/gpu");
        bump(preemption, "No preemption victims found for incoming pod");
        continue;
      }
      fitting.push(nodeName);
    }
    if (fitting.length === 0) {
      const list = (map: Map<string, number>): string => [...map.entries()].map(([reason, count]) => `${count} ${reason}`).sort().join(", ");
      const message = `0/${nodes.length} nodes are available: ${list(reasons)}. preemption: 0/${nodes.length} nodes are available: ${list(preemption)}.`;
      const current = pod.status?.conditions?.find((condition) => condition.type === "PodScheduled");
      if (current?.message === message) return;
      this.writeStatus(pod, (target) => {
        target.status = { ...target.status, phase: "Pending", conditions: setCondition(target.status?.conditions ?? [], podCondition("PodScheduled", false, "Unschedulable", message)) };
      });
      this.cluster.recordEvent(pod, "Warning", "FailedScheduling", message, "default-scheduler");
      return;
    }
    const nodeName = fitting.sort((a, b) => (used.get(a) ?? 0) - (used.get(b) ?? 0))[0]!;
    this.writeStatus(pod, (target) => {
      target.spec = { ...target.spec!, nodeName };
      target.status = { ...target.status, conditions: setCondition(target.status?.conditions ?? [], podCondition("PodScheduled", true)) };
    });
    this.cluster.recordEvent(pod, "Normal", "Scheduled", `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${nodeName}`, "default-scheduler");
  }

  // ------------------------------------------------------------------------------------------
  // Kubelet

  /** Resolves the container's environment; a string is a CreateContainerConfigError message. */
  private resolveEnv(pod: PodObject, container: IContainer, extra: Record<string, string>): Record<string, string> | string {
    const namespace = pod.metadata.namespace ?? "";
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.cluster.options.baseEnv ?? {})) if (value !== undefined) env[key] = value;
    env.HOSTNAME = pod.metadata.name ?? "";
    const lookup = (kind: "Secret" | "ConfigMap", name: string): Record<string, string> | null => {
      const object = this.cluster.store.get(kind === "Secret" ? "secrets" : "configmaps", namespace, name);
      if (!object) return null;
      const data = (object.data ?? {}) as Record<string, string>;
      if (kind === "ConfigMap") return data;
      return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, "base64").toString("utf8")]));
    };
    for (const source of container.envFrom ?? []) {
      const ref = source.secretRef ?? source.configMapRef;
      const kind = source.secretRef ? "Secret" : "ConfigMap";
      if (!ref?.name) continue;
      const data = lookup(kind, ref.name);
      if (!data) {
        if (ref.optional) continue;
        return `${kind === "Secret" ? "secret" : "configmap"} "${ref.name}" not found`;
      }
      for (const [key, value] of Object.entries(data)) env[`${source.prefix ?? ""}${key}`] = value;
    }
    const expand = (value: string): string => value.replace(/\$\$|\$\(([-._a-zA-Z0-9]+)\)/g, (match: string, name?: string) => (name === undefined ? "$" : (env[name] ?? match)));
    for (const variable of container.env ?? []) {
      if (variable.valueFrom) {
        const from = variable.valueFrom;
        const keyRef = from.secretKeyRef ?? from.configMapKeyRef;
        if (keyRef) {
          const kind = from.secretKeyRef ? "Secret" : "ConfigMap";
          const data = lookup(kind, keyRef.name ?? "");
          const value = data?.[keyRef.key];
          if (value === undefined) {
            if (keyRef.optional) continue;
            return data ? `couldn't find key ${keyRef.key} in ${kind} ${namespace}/${keyRef.name}` : `${kind === "Secret" ? "secret" : "configmap"} "${keyRef.name}" not found`;
          }
          env[variable.name] = value;
        } else if (from.fieldRef) {
          const path = from.fieldRef.fieldPath;
          const labelMatch = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
          const fields: Record<string, string | undefined> = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "metadata.uid": pod.metadata.uid,
            "spec.nodeName": pod.spec?.nodeName,
            "spec.serviceAccountName": pod.spec?.serviceAccountName,
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
          };
          env[variable.name] = labelMatch ? (pod.metadata[labelMatch[1] as "labels"]?.[labelMatch[2]!] ?? "") : (fields[path] ?? "");
        }
      } else env[variable.name] = expand(variable.value ?? "");
    }
    return { ...env, ...extra };
  }

  private async start(pod: PodObject): Promise<void> {
    const uid = pod.metadata.uid ?? "";
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const container = pod.spec!.containers[0]!;
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const runtime: Runtime = {
      uid,
      namespace: pod.metadata.namespace ?? "",
      name: pod.metadata.name ?? "",
      child: null,
      exited,
      markExited,
      exitCode: null,
      port: null,
      ready: false,
      deleting: false,
      timers: {},
      startedAt: now(),
      containerId: `containerd://${randomBytes(32).toString("hex")}`,
    };
    this.runtimes.set(uid, runtime);
    const serving = pod.metadata.ownerReferences?.some((owner) => owner.kind === "ReplicaSet") ?? false;
    const extra: Record<string, string> = {};
    if (serving) {
      runtime.port = await freePort();
      extra.FACEOPS_SERVE_PORT = String(runtime.port);
      extra.FACEOPS_SERVE_HOST = "127.0.0.1";
      if (runtime.deleting || this.stopped || !this.cluster.store.has("pods", runtime.namespace, runtime.name)) {
        runtime.markExited();
        return;
      }
    }
    const waiting = (reason: string, message: string): void => {
      runtime.markExited();
      this.writeStatus(pod, (target) => {
        target.status = {
          ...target.status,
          phase: "Pending",
          hostIP: "127.0.0.1",
          startTime: target.status?.startTime ?? now(),
          containerStatuses: [{ name: container.name, image: container.image ?? "", imageID: "", ready: false, restartCount: 0, started: false, state: { waiting: { reason, message } } }],
        };
      });
    };
    const argv = this.cluster.options.localCommand({ image: container.image ?? "", command: container.command, args: container.args });
    if (!argv || argv.length === 0) {
      const message = `rpc error: code = NotFound desc = failed to pull and unpack image "${container.image}": not found`;
      waiting("ErrImagePull", message);
      this.cluster.recordEvent(pod, "Warning", "Failed", `Failed to pull image "${container.image}": ${message}`, "kubelet");
      return;
    }
    const env = this.resolveEnv(pod, container, extra);
    if (typeof env === "string") {
      this.runtimes.delete(uid);
      this.pendingConfig.add(key);
      if (pod.status?.containerStatuses?.[0]?.state?.waiting?.message !== env) {
        waiting("CreateContainerConfigError", env);
        this.cluster.recordEvent(pod, "Warning", "Failed", `Error: ${env}`, "kubelet");
      }
      return;
    }
    this.pendingConfig.delete(key);
    const logPath = join(this.cluster.logDir, `${pod.metadata.namespace}_${pod.metadata.name}.log`);
    const fd = openSync(logPath, "a");
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd: this.cluster.options.cwd, env, detached: true, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    runtime.child = child;
    child.on("error", (error) => this.onExit(runtime, 128, `failed to create containerd task: ${error.message}`));
    child.on("exit", (code, signal) => {
      const signalNumber = signal ? (osConstants.signals[signal] ?? 9) : 0;
      this.onExit(runtime, code ?? 128 + signalNumber, null);
    });
    const probe = container.readinessProbe;
    this.writeStatus(pod, (target) => {
      target.status = {
        ...target.status,
        phase: "Running",
        hostIP: "127.0.0.1",
        hostIPs: [{ ip: "127.0.0.1" }],
        podIP: "127.0.0.1",
        podIPs: [{ ip: "127.0.0.1" }],
        startTime: target.status?.startTime ?? runtime.startedAt,
        qosClass: target.status?.qosClass ?? "BestEffort",
        conditions: [
          podCondition("PodReadyToStartContainers", true),
          podCondition("Initialized", true),
          probe ? podCondition("Ready", false, "ContainersNotReady", `containers with unready status: [${container.name}]`) : podCondition("Ready", true),
          probe ? podCondition("ContainersReady", false, "ContainersNotReady", `containers with unready status: [${container.name}]`) : podCondition("ContainersReady", true),
          podCondition("PodScheduled", true),
        ],
        containerStatuses: [
          {
            name: container.name,
            image: container.image ?? "",
            imageID: "",
            containerID: runtime.containerId,
            ready: !probe,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: runtime.startedAt } },
          },
        ],
      };
    });
    runtime.ready = !probe;
    this.cluster.recordEvent(pod, "Normal", "Started", `Started container ${container.name}`, "kubelet");
    if (probe) this.startProbing(runtime, container);
  }

  private startProbing(runtime: Runtime, container: IContainer): void {
    const probe = container.readinessProbe!;
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    const failureThreshold = probe.failureThreshold ?? 3;
    let failures = 0;
    const tick = async (): Promise<void> => {
      if (runtime.exitCode !== null || runtime.deleting || this.stopped) return;
      let ok = true;
      if (probe.httpGet) {
        const port = runtime.port ?? (typeof probe.httpGet.port === "number" ? probe.httpGet.port : null);
        ok = port !== null && (await httpProbe(`http://127.0.0.1:${port}${probe.httpGet.path ?? "/"}`, timeoutMs));
      } else if (probe.tcpSocket) {
        const port = runtime.port ?? (typeof probe.tcpSocket.port === "number" ? probe.tcpSocket.port : null);
        ok = port !== null && (await tcpProbe(port, timeoutMs));
      }
      if (runtime.exitCode !== null || runtime.deleting || this.stopped) return;
      failures = ok ? 0 : failures + 1;
      if (ok && !runtime.ready) this.setReady(runtime, container, true);
      else if (!ok && runtime.ready && failures >= failureThreshold) this.setReady(runtime, container, false);
      const next = runtime.ready ? Math.min((probe.periodSeconds ?? 10) * 1000, 1000) : 200;
      runtime.timers.probe = setTimeout(() => void tick(), next);
    };
    runtime.timers.probe = setTimeout(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000);
  }

  private setReady(runtime: Runtime, container: IContainer, ready: boolean): void {
    runtime.ready = ready;
    const found = this.cluster.store.get("pods", runtime.namespace, runtime.name);
    if (!found) return;
    this.writeStatus(asPod(found), (target) => {
      const reason = ready ? undefined : "ContainersNotReady";
      const message = ready ? undefined : `containers with unready status: [${container.name}]`;
      let conditions = target.status?.conditions ?? [];
      conditions = setCondition(conditions, podCondition("Ready", ready, reason, message));
      conditions = setCondition(conditions, podCondition("ContainersReady", ready, reason, message));
      target.status = { ...target.status, conditions, containerStatuses: (target.status?.containerStatuses ?? []).map((status) => ({ ...status, ready })) };
    });
  }

  private onExit(runtime: Runtime, exitCode: number, startError: string | null): void {
    if (runtime.exitCode !== null) return;
    runtime.exitCode = exitCode;
    clearTimeout(runtime.timers.probe);
    clearTimeout(runtime.timers.kill);
    // Like a container runtime, nothing of the container outlives its main process.
    if (runtime.child?.pid) this.signalGroup(runtime.child.pid, "SIGKILL");
    runtime.markExited();
    if (runtime.deleting || this.stopped) {
      if (runtime.deleting && !this.stopped) this.cluster.store.remove("pods", runtime.namespace, runtime.name);
      return;
    }
    const found = this.cluster.store.get("pods", runtime.namespace, runtime.name);
    if (!found) return;
    const pod = asPod(found);
    const restartPolicy = pod.spec?.restartPolicy ?? "Always";
    const finishedAt = now();
    const terminated = {
      exitCode,
      reason: startError ? "StartError" : exitCode === 0 ? "Completed" : "Error",
      ...(startError ? { message: startError } : {}),
      startedAt: runtime.startedAt,
      finishedAt,
      containerID: runtime.containerId,
    };
    this.writeStatus(pod, (target) => {
      const previous: IContainerStatus | undefined = target.status?.containerStatuses?.[0];
      const base = { name: previous?.name ?? "", image: previous?.image ?? "", imageID: "", containerID: runtime.containerId, ready: false, restartCount: previous?.restartCount ?? 0 };
      let conditions = target.status?.conditions ?? [];
      if (restartPolicy === "Always") {
        // Not restarted by this fake: the container stays in CrashLoopBackOff and the pod unready.
        const message = `back-off 10s restarting failed container=${base.name} pod=${target.metadata?.name}_${target.metadata?.namespace}(${target.metadata?.uid})`;
        conditions = setCondition(conditions, podCondition("Ready", false, "ContainersNotReady", `containers with unready status: [${base.name}]`));
        conditions = setCondition(conditions, podCondition("ContainersReady", false, "ContainersNotReady", `containers with unready status: [${base.name}]`));
        target.status = { ...target.status, conditions, containerStatuses: [{ ...base, started: false, state: { waiting: { reason: "CrashLoopBackOff", message } }, lastState: { terminated } }] };
      } else {
        conditions = setCondition(conditions, podCondition("Ready", false, "PodCompleted"));
        conditions = setCondition(conditions, podCondition("ContainersReady", false, "PodCompleted"));
        target.status = { ...target.status, phase: exitCode === 0 ? "Succeeded" : "Failed", conditions, containerStatuses: [{ ...base, started: false, state: { terminated } }] };
      }
    });
  }

  private signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is gone already.
    }
  }

  private kill(runtime: Runtime, signal: NodeJS.Signals): void {
    if (runtime.child?.pid && runtime.exitCode === null) this.signalGroup(runtime.child.pid, signal);
  }

  /** The URL of a pod's serving process, if it was given a port. */
  endpoint(uid: string): string | null {
    const runtime = this.runtimes.get(uid);
    return runtime?.port && runtime.exitCode === null && !runtime.deleting ? `http://127.0.0.1:${runtime.port}` : null;
  }

  /**
   * Graceful pod deletion: a pod with a running process gets deletionTimestamp, SIGTERM, and SIGKILL
   * after the grace period, and disappears once the process has exited; any other pod disappears at once.
   * Returns the pod as the DELETE response shows it.
   */
  deletePod(namespace: string, name: string, gracePeriodSeconds?: number): KObject | null {
    const found = this.cluster.store.get("pods", namespace, name);
    if (!found) return null;
    const pod = asPod(found);
    const runtime = this.runtimes.get(pod.metadata.uid ?? "");
    const running = runtime?.child && runtime.exitCode === null;
    const grace = gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (!runtime || !running || grace === 0) {
      if (runtime) {
        runtime.deleting = true;
        this.kill(runtime, "SIGKILL");
      }
      return this.cluster.store.remove("pods", namespace, name);
    }
    if (pod.metadata.deletionTimestamp) return pod;
    runtime.deleting = true;
    const updated = this.cluster.store.mutate("pods", namespace, name, (object) => {
      object.metadata.deletionTimestamp = now(Date.now() + grace * 1000);
      object.metadata.deletionGracePeriodSeconds = grace;
    });
    this.kill(runtime, "SIGTERM");
    runtime.timers.kill = setTimeout(() => this.kill(runtime, "SIGKILL"), grace * 1000);
    return updated;
  }

  /** Kills every process (SIGTERM, then SIGKILL after a few seconds) and waits for all of them. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.runtimes.values()];
    for (const runtime of all) {
      clearTimeout(runtime.timers.probe);
    clearTimeout(runtime.timers.kill);
      this.kill(runtime, "SIGTERM");
    }
    const pending = all.filter((runtime) => runtime.child && runtime.exitCode === null);
    const forceKill = setTimeout(() => pending.forEach((runtime) => this.kill(runtime, "SIGKILL")), 3000);
    await Promise.all(all.map((runtime) => runtime.exited));
    clearTimeout(forceKill);
    for (const runtime of all) if (runtime.child?.pid) this.signalGroup(runtime.child.pid, "SIGKILL");
  }
}
