import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { baselineControls, restrictedControls, restrictedViolations, type RestrictedControl } from "../kube-pod-security.js";
import { DeploymentController, JobController } from "./controllers.js";
import { ApiError, badRequest, conflict, invalid, notFound, alreadyExists, unsupportedMediaType, type StatusBody } from "./errors.js";
import { Kubelet, asPod } from "./kubelet.js";
import { PATCH_TYPES, applyPatch } from "./patch.js";
import { apiVersionOf, clone, isRecord, now, randomSuffix, resourceInfo, stableJson, type KObject, type ResourceInfo } from "./resources.js";
import { Store } from "./store.js";
import { applyDefaults, decode, validate, type FieldValidation } from "./validation.js";

export interface FakeClusterOptions {
  /** Maps a container (command + args) to the local argv to run, e.g. ["faceops", ...] -> [process.execPath, "--import", "tsx", "<repo>/src/cli/main.ts", ...]. null: the pod fails to start (ErrImagePull-like). */
  localCommand: (container: { image: string; command?: string[]; args?: string[] }) => string[] | null;
  /** Environment given to every local process before the container's own env (e.g. PATH, HOME). */
  baseEnv?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Scheduling: node count (default 3) and nvidia.com/gpu allocatable per node (default 0). */
  nodes?: number;
  gpusPerNode?: number;
  /** Extra labels on every node (for nodeSelector tests); nodes always have kubernetes.io/hostname=node-<i>. */
  nodeLabels?: Record<string, string>;
  /** Where local processes' stdout/stderr go (a folder; one file per pod); default a temp folder. */
  logDir?: string;
}

export interface WriteOptions {
  fieldValidation: FieldValidation;
  dryRun: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: string;
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface WriteResult {
  object: KObject;
  warnings: string[];
}

/** Removes null-valued fields (the decoder treats null as "unset"; such fields never appear in responses). */
function pruneNulls(value: unknown): void {
  if (Array.isArray(value)) value.forEach(pruneNulls);
  else if (isRecord(value))
    for (const [key, item] of Object.entries(value)) {
      if (item === null) delete value[key];
      else pruneNulls(item);
    }
}

/** The API server's storage and admission side plus the simulated control plane and nodes. */
export class Cluster {
  readonly store = new Store();
  readonly kubelet: Kubelet;
  readonly jobs: JobController;
  readonly deployments: DeploymentController;
  private readonly pollers = new Set<NodeJS.Timeout>();
  private nextServiceIp = 1;

  constructor(
    readonly options: FakeClusterOptions,
    readonly logDir: string,
  ) {
    this.kubelet = new Kubelet(this);
    this.jobs = new JobController(this);
    this.deployments = new DeploymentController(this);
    this.store.subscribe((event) => {
      this.kubelet.onEvent(event);
      this.jobs.onEvent(event);
      this.deployments.onEvent(event);
    });
    for (const name of ["default", "kube-system", "kube-public", "kube-node-lease"]) this.ensureNamespace(name);
    const gpus = options.gpusPerNode ?? 0;
    for (let i = 1; i <= (options.nodes ?? 3); i += 1) {
      const resources: Record<string, string> = { cpu: "8", memory: "32Gi", pods: "110", "ephemeral-storage": "100Gi" };
      if (gpus > 0) resources["nvidia.com/gpu"] = String(gpus);
      this.store.create("nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: `node-${i}`, uid: randomUUID(), creationTimestamp: now(), labels: { ...options.nodeLabels, "kubernetes.io/hostname": `node-${i}` } },
        spec: {},
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status", lastHeartbeatTime: now(), lastTransitionTime: now() }],
          addresses: [
            { type: "InternalIP", address: "127.0.0.1" },
            { type: "Hostname", address: `node-${i}` },
          ],
          nodeInfo: { kubeletVersion: "v1.34.0", containerRuntimeVersion: "local-process://1", operatingSystem: "linux", architecture: process.arch === "arm64" ? "arm64" : "amd64" },
        },
      });
    }
  }

  ensureNamespace(name: string): void {
    if (this.store.has("namespaces", "", name)) return;
    this.store.create("namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, uid: randomUUID(), creationTimestamp: now(), labels: { "kubernetes.io/metadata.name": name } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
    this.ensureDefaultServiceAccount(name);
  }

  /** What the serviceaccount controller does for every namespace: a ServiceAccount named default. */
  private ensureDefaultServiceAccount(namespace: string): void {
    if (this.store.has("serviceaccounts", namespace, "default")) return;
    this.store.create("serviceaccounts", { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace, uid: randomUUID(), creationTimestamp: now() } });
  }

  /**
   * Pod Security Admission in enforce mode, on every new pod: a namespace labelled
   * pod-security.kubernetes.io/enforce: baseline or restricted refuses a pod that breaks one of that
   * level's controls (test/helpers/kube-pod-security.ts) with 403 Forbidden
   * `pods "x" is forbidden: violates PodSecurity "restricted:<version>": ...`. The list after the
   * colon names the controls and fields in this fake's words, not the real plugin's; the version
   * label is only echoed (the checks are the latest ones), and audit and warn are not simulated.
   */
  private admitPodSecurity(pod: KObject): void {
    const namespace = pod.metadata.namespace ?? "";
    const labels = this.store.get("namespaces", "", namespace)?.metadata.labels ?? {};
    const level = labels["pod-security.kubernetes.io/enforce"];
    if (level !== "baseline" && level !== "restricted") return;
    const checked = new Set<RestrictedControl>(level === "baseline" ? baselineControls : restrictedControls);
    const violations = restrictedViolations({ metadata: pod.metadata, spec: pod.spec as never }).filter((violation) => checked.has(violation.control));
    if (violations.length === 0) return;
    const podName = pod.metadata.name ?? pod.metadata.generateName ?? "";
    const version = labels["pod-security.kubernetes.io/enforce-version"] ?? "latest";
    const list = violations.map((violation) => `${violation.control} (${violation.field}=${JSON.stringify(violation.value) ?? "unset"})`).join(", ");
    throw new ApiError(403, "Forbidden", `pods "${podName}" is forbidden: violates PodSecurity "${level}:${version}": ${list}`, { name: podName, kind: "pods" });
  }

  /**
   * The ServiceAccount admission plugin, on every new pod: the pod runs as spec.serviceAccountName
   * ("default" when unset), which must exist (else 403 Forbidden, as the real plugin answers, and a
   * Job's or Deployment's controller records FailedCreate); and unless automountServiceAccountToken
   * is false on the pod, or else on the ServiceAccount, the token, the cluster CA and the namespace
   * are mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container.
   */
  private admitServiceAccount(pod: KObject): void {
    if (!isRecord(pod.spec)) return;
    const spec = pod.spec;
    const namespace = pod.metadata.namespace ?? "";
    const name = typeof spec.serviceAccountName === "string" && spec.serviceAccountName !== "" ? spec.serviceAccountName : "default";
    spec.serviceAccountName = name;
    const account = this.store.get("serviceaccounts", namespace, name);
    if (!account) {
      const podName = pod.metadata.name ?? pod.metadata.generateName ?? "";
      throw new ApiError(403, "Forbidden", `pods "${podName}" is forbidden: error looking up service account ${namespace}/${name}: serviceaccount "${name}" not found`, { name: podName, kind: "pods" });
    }
    const automount = typeof spec.automountServiceAccountToken === "boolean" ? spec.automountServiceAccountToken : account.automountServiceAccountToken !== false;
    const containers = [spec.initContainers, spec.containers].flatMap((list) => (Array.isArray(list) ? list.filter(isRecord) : []));
    const mountPath = "/var/run/secrets/kubernetes.io/serviceaccount";
    const mounted = containers.some((container) => Array.isArray(container.volumeMounts) && container.volumeMounts.some((mount) => isRecord(mount) && mount.mountPath === mountPath));
    if (!automount || mounted) return;
    const volume = `kube-api-access-${randomSuffix()}`;
    spec.volumes = [
      ...(Array.isArray(spec.volumes) ? (spec.volumes as unknown[]) : []),
      {
        name: volume,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
            { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
          ],
        },
      },
    ];
    for (const container of containers) container.volumeMounts = [...(Array.isArray(container.volumeMounts) ? (container.volumeMounts as unknown[]) : []), { name: volume, readOnly: true, mountPath }];
  }

  private requireNamespace(namespace: string): void {
    const found = this.store.get("namespaces", "", namespace);
    if (!found) throw notFound("", "namespaces", namespace);
    if (found.metadata.deletionTimestamp)
      throw new ApiError(403, "Forbidden", `unable to create new content in namespace ${namespace} because it is being terminated`, { name: namespace, kind: "namespaces" });
  }

  /** Shape checks of a request body, and apiVersion/kind/namespace/name filled in or checked against the URL. */
  private normalizeBody(info: ResourceInfo, namespace: string, body: unknown, urlName: string | null): KObject {
    if (!isRecord(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    const object = clone(body) as KObject;
    const apiVersion = apiVersionOf(info);
    if (object.apiVersion !== undefined && object.apiVersion !== apiVersion)
      throw badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersion})`);
    if (object.kind !== undefined && object.kind !== info.kind) throw badRequest(`the kind in the data (${String(object.kind)}) does not match the expected kind (${info.kind})`);
    object.apiVersion = apiVersion;
    object.kind = info.kind;
    if (object.metadata === undefined || object.metadata === null) object.metadata = {};
    if (!isRecord(object.metadata)) throw badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: json: cannot unmarshal ${typeof object.metadata} into Go struct field ${info.kind}.metadata of type v1.ObjectMeta`);
    if (info.namespaced) {
      if (object.metadata.namespace && object.metadata.namespace !== namespace) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      object.metadata.namespace = namespace;
    } else delete object.metadata.namespace;
    if (urlName !== null && object.metadata.name !== undefined && object.metadata.name !== urlName)
      throw badRequest(`the name of the object (${typeof object.metadata.name === "string" ? object.metadata.name : ""}) does not match the name on the URL (${urlName})`);
    if (urlName !== null) object.metadata.name = urlName;
    return object;
  }

  private initialStatus(info: ResourceInfo): Record<string, unknown> {
    switch (info.kind) {
      case "Pod":
        return { phase: "Pending", qosClass: "BestEffort" };
      case "Namespace":
        return { phase: "Active" };
      case "Service":
        return { loadBalancer: {} };
      default:
        return {};
    }
  }

  /** Everything the server adds to a new object, then defaulting and validation. */
  private admitNew(info: ResourceInfo, object: KObject): void {
    const metadata = object.metadata;
    if (info.kind === "Pod") {
      this.admitServiceAccount(object);
      this.admitPodSecurity(object);
    }
    if (!metadata.name && metadata.generateName) metadata.name = `${metadata.generateName}${randomSuffix()}`;
    metadata.uid = randomUUID();
    metadata.creationTimestamp = now();
    delete metadata.deletionTimestamp;
    delete metadata.deletionGracePeriodSeconds;
    delete metadata.selfLink;
    if (info.tracksGeneration) metadata.generation = 1;
    else delete metadata.generation;
    if (info.hasStatus) object.status = this.initialStatus(info);
    if (info.kind === "Service" && isRecord(object.spec) && object.spec.clusterIP === undefined && object.spec.type !== "ExternalName") {
      const ip = `10.96.${Math.floor(this.nextServiceIp / 250)}.${(this.nextServiceIp % 250) + 2}`;
      this.nextServiceIp += 1;
      object.spec.clusterIP = ip;
      object.spec.clusterIPs = [ip];
    }
    applyDefaults(info, object);
    validate(info, object, null);
  }

  /** POST: create. */
  create(info: ResourceInfo, namespace: string, body: unknown, options: WriteOptions): WriteResult {
    const object = this.normalizeBody(info, namespace, body, null);
    const warnings = decode(info, object, options.fieldValidation, "body");
    pruneNulls(object);
    if (object.metadata.resourceVersion) throw new ApiError(500, "InternalError", "Internal error occurred: resourceVersion should not be set on objects to be created", {});
    if (info.namespaced) this.requireNamespace(namespace);
    this.admitNew(info, object);
    if (this.store.has(info.resource, namespace, object.metadata.name ?? "")) throw alreadyExists(info.group, info.resource, object.metadata.name ?? "");
    if (options.dryRun) return { object, warnings };
    const created = this.store.create(info.resource, object);
    if (info.kind === "Namespace") this.ensureDefaultServiceAccount(created.metadata.name ?? "");
    return { object: created, warnings };
  }

  /** Creation by a controller (pods, events): the same defaulting and validation, no request decoding. */
  createInternal(info: ResourceInfo, object: KObject): KObject {
    const copy = clone(object);
    copy.apiVersion = apiVersionOf(info);
    copy.kind = info.kind;
    if (info.namespaced) this.requireNamespace(copy.metadata.namespace ?? "");
    this.admitNew(info, copy);
    if (this.store.has(info.resource, copy.metadata.namespace ?? "", copy.metadata.name ?? "")) throw alreadyExists(info.group, info.resource, copy.metadata.name ?? "");
    return this.store.create(info.resource, copy);
  }

  private existing(info: ResourceInfo, namespace: string, name: string): KObject {
    const found = this.store.get(info.resource, namespace, name);
    if (!found) throw notFound(info.group, info.resource, name);
    return found;
  }

  /** PUT (subresource null or "status"). */
  update(info: ResourceInfo, namespace: string, name: string, body: unknown, options: WriteOptions, subresource: string | null): WriteResult {
    const existing = this.existing(info, namespace, name);
    const object = this.normalizeBody(info, namespace, body, name);
    if (object.metadata.resourceVersion && object.metadata.resourceVersion !== existing.metadata.resourceVersion) throw conflict(info.group, info.resource, name);
    const warnings = decode(info, object, options.fieldValidation, "body");
    pruneNulls(object);
    return { object: this.commitUpdate(info, existing, object, options, subresource), warnings };
  }

  /** PATCH with one of the three patch content types. */
  patch(info: ResourceInfo, namespace: string, name: string, contentType: string, body: unknown, options: WriteOptions, subresource: string | null): WriteResult {
    if (!(PATCH_TYPES as readonly string[]).includes(contentType)) throw unsupportedMediaType([...PATCH_TYPES]);
    const existing = this.existing(info, namespace, name);
    const patched = applyPatch(contentType, existing, body);
    if (!isRecord(patched) || !isRecord(patched.metadata)) throw invalid(info.group, info.kind, name, [{ field: "metadata", type: "Required" }]);
    const object = patched as KObject;
    if (object.metadata.resourceVersion !== undefined && object.metadata.resourceVersion !== existing.metadata.resourceVersion) throw conflict(info.group, info.resource, name);
    if (object.metadata.name !== name) throw invalid(info.group, info.kind, name, [{ field: "metadata.name", type: "Invalid", value: object.metadata.name, detail: "field is immutable" }]);
    if (object.apiVersion !== existing.apiVersion || object.kind !== existing.kind) throw badRequest("apiVersion and kind cannot be changed by a patch");
    if (info.namespaced && object.metadata.namespace !== namespace) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    const warnings = decode(info, object, options.fieldValidation, "patch");
    pruneNulls(object);
    return { object: this.commitUpdate(info, existing, object, options, subresource), warnings };
  }

  private commitUpdate(info: ResourceInfo, existing: KObject, object: KObject, options: WriteOptions, subresource: string | null): KObject {
    let next: KObject;
    if (subresource === "status") {
      next = clone(existing);
      if (object.status === undefined) delete next.status;
      else next.status = object.status;
    } else {
      next = object;
      if (info.hasStatus) {
        if (existing.status === undefined) delete next.status;
        else next.status = clone(existing.status);
      }
      for (const key of ["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"] as const) {
        if (existing.metadata[key] === undefined) delete next.metadata[key];
        else (next.metadata as Record<string, unknown>)[key] = existing.metadata[key];
      }
      if (info.kind === "Service" && isRecord(next.spec) && isRecord(existing.spec) && next.spec.clusterIP === undefined) {
        next.spec.clusterIP = existing.spec.clusterIP;
        next.spec.clusterIPs = existing.spec.clusterIPs;
      }
      applyDefaults(info, next);
    }
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
    validate(info, next, existing);
    if (info.tracksGeneration && stableJson(existing.spec) !== stableJson(next.spec)) next.metadata.generation = (existing.metadata.generation ?? 1) + 1;
    if (options.dryRun) return next;
    return this.store.update(info.resource, next);
  }

  /** Pods a Job or Deployment owns (what the garbage collector would delete with it). */
  private dependents(owner: KObject): KObject[] {
    const uid = owner.metadata.uid ?? "";
    const namespace = owner.metadata.namespace ?? "";
    if (owner.kind === "Deployment") return this.deployments.dependents(uid, namespace);
    return this.store.list("pods", namespace).filter((pod) => pod.metadata.ownerReferences?.some((reference) => reference.uid === uid));
  }

  private poll(check: () => boolean): void {
    const timer = setInterval(() => {
      if (check()) {
        clearInterval(timer);
        this.pollers.delete(timer);
      }
    }, 50);
    this.pollers.add(timer);
  }

  /**
   * DELETE. Pods terminate gracefully. Jobs default to orphaning their pods (the batch/v1 default, with
   * the same warning as the real server); other owners default to Background; Foreground keeps the
   * owner (deletionTimestamp + foregroundDeletion finalizer) until its pods are gone.
   */
  deleteObject(info: ResourceInfo, namespace: string, name: string, options: DeleteOptions): { code: number; body: KObject | StatusBody; warnings: string[] } {
    const existing = this.existing(info, namespace, name);
    const warnings: string[] = [];
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== existing.metadata.uid)
      throw new ApiError(409, "Conflict", `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid}`, { name, group: info.group || undefined, kind: info.resource });
    if (pre?.resourceVersion && pre.resourceVersion !== existing.metadata.resourceVersion)
      throw new ApiError(409, "Conflict", `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`, {
        name,
        group: info.group || undefined,
        kind: info.resource,
      });
    if (options.dryRun) return { code: 200, body: existing, warnings };
    if (info.resource === "pods") return { code: 200, body: this.kubelet.deletePod(namespace, name, options.gracePeriodSeconds) ?? existing, warnings };
    if (info.resource === "namespaces") return { code: 200, body: this.deleteNamespace(existing), warnings };
    let policy = options.propagationPolicy;
    if (!policy && options.orphanDependents !== undefined) policy = options.orphanDependents ? "Orphan" : "Background";
    if (!policy) {
      policy = info.resource === "jobs" ? "Orphan" : "Background";
      if (info.resource === "jobs") warnings.push('299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"');
    }
    if (policy !== "Orphan" && policy !== "Background" && policy !== "Foreground")
      throw invalid("", "DeleteOptions", "", [{ field: "propagationPolicy", type: "NotSupported", value: policy, detail: 'supported values: "Foreground", "Background", "Orphan", "nil"' }]);
    const dependents = this.dependents(existing);
    const uid = existing.metadata.uid ?? "";
    if (policy === "Foreground") {
      const marked = this.store.mutate(info.resource, namespace, name, (object) => {
        object.metadata.deletionTimestamp = now();
        object.metadata.deletionGracePeriodSeconds = 0;
        object.metadata.finalizers = [...(object.metadata.finalizers ?? []), "foregroundDeletion"];
      })!;
      for (const pod of dependents) this.kubelet.deletePod(namespace, pod.metadata.name ?? "");
      this.poll(() => {
        if (this.dependents(existing).length > 0) return false;
        this.store.remove(info.resource, namespace, name);
        return true;
      });
      return { code: 200, body: marked, warnings };
    }
    if (policy === "Orphan")
      for (const pod of dependents)
        this.store.mutate("pods", namespace, pod.metadata.name ?? "", (object) => {
          object.metadata.ownerReferences = object.metadata.ownerReferences?.filter((reference) => reference.uid !== uid);
          if (object.metadata.ownerReferences?.length === 0) delete object.metadata.ownerReferences;
        });
    this.store.remove(info.resource, namespace, name);
    if (policy === "Background") for (const pod of dependents) this.kubelet.deletePod(namespace, pod.metadata.name ?? "");
    const details: Record<string, string> = { name, kind: info.resource, uid };
    if (info.group) details.group = info.group;
    // As the real server: a Success Status naming the object (details.kind is the resource), without a code.
    return { code: 200, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details }, warnings };
  }

  private deleteNamespace(namespace: KObject): KObject {
    const name = namespace.metadata.name ?? "";
    if (namespace.metadata.deletionTimestamp) return namespace;
    const marked = this.store.mutate("namespaces", "", name, (object) => {
      object.metadata.deletionTimestamp = now();
      object.status = { phase: "Terminating" };
    })!;
    for (const resource of ["deployments", "jobs", "services", "secrets", "configmaps", "serviceaccounts", "events"] as const) for (const object of this.store.list(resource, name)) this.store.remove(resource, name, object.metadata.name ?? "");
    for (const pod of this.store.list("pods", name)) this.kubelet.deletePod(name, pod.metadata.name ?? "");
    this.poll(() => {
      if (this.store.list("pods", name).length > 0) return false;
      this.store.remove("namespaces", "", name);
      return true;
    });
    return marked;
  }

  /** A core/v1 Event about an object, as a controller's event recorder writes it. */
  recordEvent(involved: KObject, type: "Normal" | "Warning", reason: string, message: string, component: string): void {
    const namespace = involved.metadata.namespace ?? "default";
    if (!this.store.has("namespaces", "", namespace) || this.store.get("namespaces", "", namespace)?.metadata.deletionTimestamp) return;
    const at = now();
    this.createInternal(resourceInfo("events"), {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${involved.metadata.name}.${randomBytes(8).toString("hex")}`, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata.name,
        namespace: involved.metadata.namespace,
        uid: involved.metadata.uid,
        resourceVersion: involved.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      reportingInstance: "",
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    });
  }

  /** GET pods/<name>/log: the process's combined stdout/stderr. */
  podLog(namespace: string, name: string, query: URLSearchParams): string {
    const pod = asPod(this.existing(resourceInfo("pods"), namespace, name));
    const container = pod.spec?.containers[0]?.name ?? "";
    const wanted = query.get("container");
    if (wanted && !pod.spec?.containers.some((candidate) => candidate.name === wanted))
      throw badRequest(`container ${wanted} is not valid for pod ${name}`);
    if (wanted && wanted !== container) return "";
    const path = join(this.logDir, `${namespace}_${name}.log`);
    if (!existsSync(path)) {
      const reason = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? "ContainerCreating";
      throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${reason}`);
    }
    let text = readFileSync(path, "utf8");
    const tail = query.get("tailLines");
    if (tail !== null) {
      const lines = text.split("\n");
      const trailing = lines[lines.length - 1] === "" ? lines.pop() : undefined;
      text = lines.slice(Math.max(0, lines.length - Number(tail))).join("\n") + (trailing === "" ? "\n" : "");
    }
    const limit = query.get("limitBytes");
    if (limit !== null) text = Buffer.from(text).subarray(0, Number(limit)).toString("utf8");
    return text;
  }

  async stop(): Promise<void> {
    this.jobs.stop();
    this.deployments.stop();
    for (const timer of this.pollers) clearInterval(timer);
    this.pollers.clear();
    await this.kubelet.stop();
  }
}
