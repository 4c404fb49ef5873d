/**
 * A small fake Kubernetes API server for tests, driven by the real @kubernetes/client-node.
 *
 * WHAT IT SIMULATES
 * - kube-apiserver's REST protocol over plain HTTP on 127.0.0.1, with one bearer token (401 without
 *   it): core/v1 pods (+status, +log), secrets, configmaps, serviceaccounts, services (+status),
 *   events, namespaces (cluster-scoped), nodes (read-only); batch/v1 jobs (+status); apps/v1
 *   deployments (+status).
 *   Verbs: create (201; 409 AlreadyExists), get (404 NotFound), list (labelSelector `k=v`, `k!=v`,
 *   `k`, `!k`, `k in (..)`, `k notin (..)`, comma = AND; fieldSelector on the fields the real server
 *   indexes, e.g. metadata.name, status.phase, involvedObject.name; limit/continue; the List's
 *   metadata.resourceVersion), update/PUT (409 Conflict on a stale metadata.resourceVersion), patch
 *   (merge patch, an approximate strategic merge patch, JSON patch; 415 for other types such as
 *   server-side apply), delete (propagationPolicy Orphan/Background/Foreground; as in batch/v1, Jobs
 *   default to Orphan with the real Warning), deletecollection, and watch (`watch=true|1`;
 *   resourceVersion unset or "0" starts with synthetic ADDED events, otherwise history is replayed;
 *   objects moving in or out of a label selector appear as ADDED/DELETED; timeoutSeconds; a
 *   resourceVersion older than the retained history, see compactHistory(), gets one ERROR event
 *   carrying a 410 Expired Status and the stream ends). Every error body is a metav1.Status. One
 *   global resourceVersion counter; uid, creationTimestamp, generation (bumped on spec changes of
 *   jobs and deployments); status subresource semantics (status ignored on main-resource writes);
 *   dryRun=All; Warning headers; minimal discovery (/api, /apis, /api/v1, /apis/<g>/<v>, /version).
 * - Decoding and validation of every created, replaced or patched object (the patch result): unknown
 *   fields give 400 `strict decoding error: unknown field "spec.x"` (fieldValidation=Strict, which
 *   is this fake's default; the real default is Warn; Warn/Ignore drop them), JSON type errors give
 *   400 on create/update (422 on patch, as the real server), and the official OpenAPI schema
 *   (kubernetes-models) plus some of the server's own rules (names, labels, container names and
 *   images, Job restartPolicy, Deployment selector vs. template labels, immutable Job template and
 *   Deployment selector) give 422 Invalid with causes. Server-side defaults are applied (Job
 *   selector and pod labels, backoffLimit 6, Deployment strategy and progressDeadlineSeconds 600,
 *   pod spec defaults, Secret stringData -> data, a Service clusterIP, ...). The ServiceAccount
 *   admission plugin on every new pod: its spec.serviceAccountName ("default" when unset) must exist
 *   in the namespace (else 403 Forbidden `error looking up service account <ns>/<name>`, which a Job
 *   or Deployment controller records as a FailedCreate event), and unless automountServiceAccountToken
 *   is false (on the pod, else on the ServiceAccount) the kube-api-access-<x> projected volume is
 *   mounted at /var/run/secrets/kubernetes.io/serviceaccount. Every namespace gets its "default"
 *   ServiceAccount when it is created, as the serviceaccount controller does.
 * - The control plane and nodes. Nodes node-1..node-N (labels kubernetes.io/hostname plus
 *   options.nodeLabels; allocatable nvidia.com/gpu = options.gpusPerNode). A scheduler: nodeSelector
 *   and nvidia.com/gpu requests only; an unschedulable pod stays Pending with PodScheduled False
 *   Unschedulable and the real message format (retried when pods finish). A kubelet that runs each
 *   bound pod's FIRST container as a local process: argv from options.localCommand, a process group
 *   of its own, env = baseEnv + HOSTNAME + the container's env/envFrom (values, Secret and ConfigMap
 *   refs, fieldRef; a missing non-optional ref is CreateContainerConfigError until it appears),
 *   cwd = options.cwd, stdout and stderr to <logDir>/<namespace>_<pod>.log (served as pods/log);
 *   readiness probes (httpGet/tcpSocket, every ~200 ms until ready, then every second); graceful
 *   deletion (SIGTERM to the group, SIGKILL after the grace period, then the pod disappears). The
 *   Job controller (pods named <job>-<5 chars>, backoffLimit, activeDeadlineSeconds, suspend,
 *   ttlSecondsAfterFinished, status counts and the 1.31+ conditions). The Deployment controller
 *   (rollouts that start the new pod, wait for it to be ready, then retire the old one; pods get
 *   FACEOPS_SERVE_PORT/FACEOPS_SERVE_HOST; status and the Available/Progressing conditions;
 *   progressDeadlineSeconds). Garbage collection of owned pods. Events (Scheduled,
 *   FailedScheduling, SuccessfulCreate, Completed, BackoffLimitExceeded, DeadlineExceeded,
 *   ScalingReplicaSet, ...).
 *
 * WHAT IT DOES NOT SIMULATE
 * - TLS, other kinds of authentication, RBAC enforcement (requests are only recorded: see
 *   rbacUsage()), admission webhooks and every admission plugin but ServiceAccount's (no Pod
 *   Security Admission: test/helpers/kube-pod-security.ts checks pods before they are sent), quotas, server-side apply, managedFields, protobuf or YAML
 *   bodies, watch bookmarks, the resourceVersion semantics of lists (always the latest state), and
 *   every other resource: ReplicaSets are not served although deployment pods name one as their
 *   owner; no CronJobs, StatefulSets, PVCs, ... kubeConfig(namespace) creates its namespace, as an
 *   administrator would have.
 * - Containers: there are no images and no isolation; the process sees the host file system.
 *   Volumes and volumeMounts are ignored, as are resource limits (except nvidia.com/gpu for
 *   scheduling), securityContext, init and sidecar containers and every container after the first,
 *   container ports, Services and cluster networking (pod IPs are 127.0.0.1), node affinity and
 *   taints, liveness and startup probes (an exec readiness probe always passes). Containers are never
 *   restarted in place: restartPolicy OnFailure behaves like Never (the pod fails, the Job makes a
 *   new one), and a Deployment pod whose process exits stays unready in CrashLoopBackOff.
 * - Jobs: no back-off delay between retries, no podFailurePolicy/successPolicy, no indexes for
 *   Indexed Jobs, no pod finalizers. Deployments: replicas > 1 are treated as 1 (0 scales to
 *   nothing), no pause, minReadySeconds or Recreate strategy (always surge one, then retire), and
 *   the readiness probe's port is ignored: the process is probed on its FACEOPS_SERVE_PORT.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { Cluster, type DeleteOptions, type FakeClusterOptions, type WriteOptions } from "./kube-apiserver/cluster.js";
import { ApiError, badRequest, methodNotAllowed, notFound, resourceNotFound, unauthorized, type StatusBody } from "./kube-apiserver/errors.js";
import { RESOURCES, apiVersionOf, findResource, isRecord, type KObject, type ResourceInfo } from "./kube-apiserver/resources.js";
import { parseFieldSelector, parseLabelSelector } from "./kube-apiserver/selectors.js";
import type { StoreEvent } from "./kube-apiserver/store.js";
import { parseFieldValidation } from "./kube-apiserver/validation.js";

export type { FakeClusterOptions } from "./kube-apiserver/cluster.js";

export interface ApiRequestRecord {
  method: string;
  /** The URL path, without the query string. */
  path: string;
  /** RBAC verb: get, list, watch, create, update, patch, delete, deletecollection ("get" for non-resource URLs). */
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string | null;
  namespace: string | null;
  /** The object name (for create: the name in the body, or the generated one). */
  name: string | null;
  status: number;
}

const MAX_BODY = 3 * 1024 * 1024;

interface Route {
  group: string;
  version: string;
  resource: string;
  namespace: string | null;
  name: string | null;
  subresource: string | null;
  verb: string;
}

function parseRoute(segments: string[], method: string, query: URLSearchParams): Route | "discovery" | null {
  let group: string;
  let version: string | undefined;
  let rest: string[];
  if (segments[0] === "api") {
    group = "";
    version = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === "apis") {
    group = segments[1] ?? "";
    version = segments[2];
    rest = segments.slice(3);
  } else return null;
  if (!version || rest.length === 0) return "discovery";
  let namespace: string | null = null;
  const namespaceSubresource = group === "" && rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize");
  if (rest[0] === "namespaces" && rest.length >= 3 && !namespaceSubresource) {
    namespace = rest[1]!;
    rest = rest.slice(2);
  }
  if (rest.length > 3) return { group, version, resource: rest.join("/"), namespace, name: null, subresource: null, verb: "unknown" };
  const [resource = "", name = null, subresource = null] = rest;
  // A watch on a named object (GET .../pods/x?watch=1) is a watch with fieldSelector metadata.name=x.
  const watch = query.get("watch") === "true" || query.get("watch") === "1";
  const verbs: Record<string, string> = {
    GET: watch && !subresource ? "watch" : name ? "get" : "list",
    POST: "create",
    PUT: "update",
    PATCH: "patch",
    DELETE: name ? "delete" : "deletecollection",
  };
  return { group, version, resource, namespace, name, subresource, verb: verbs[method] ?? method.toLowerCase() };
}

function stripTypeMeta(object: KObject): KObject {
  const { apiVersion: _apiVersion, kind: _kind, ...rest } = object;
  return rest;
}

export class FakeKubeApiServer {
  readonly requests: ApiRequestRecord[] = [];
  private readonly token = randomBytes(16).toString("hex");
  private readonly watches = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    private readonly cluster: Cluster,
    readonly url: string,
    private readonly ownedLogDir: string | null,
  ) {}

  static async start(options: FakeClusterOptions): Promise<FakeKubeApiServer> {
    const ownedLogDir = options.logDir ? null : mkdtempSync(join(tmpdir(), "fake-kube-logs-"));
    if (options.logDir) mkdirSync(options.logDir, { recursive: true });
    const cluster = new Cluster(options, options.logDir ?? ownedLogDir!);
    let instance: FakeKubeApiServer | null = null;
    const server = createServer((request, response) => {
      if (instance) void instance.handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    instance = new FakeKubeApiServer(server, cluster, `http://127.0.0.1:${port}`, ownedLogDir);
    return instance;
  }

  /** A KubeConfig for this server (context namespace `namespace`, which is created if missing, as an admin would have). */
  kubeConfig(namespace = "default"): k8s.KubeConfig {
    this.cluster.ensureNamespace(namespace);
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: "fake", server: this.url, skipTLSVerify: true }],
      users: [{ name: "fake-user", token: this.token }],
      contexts: [{ name: "fake", cluster: "fake", user: "fake-user", namespace }],
      currentContext: "fake",
    });
    return kubeConfig;
  }

  /** Distinct "group/resource[/subresource]:verb" used by authenticated requests, group "" for core. */
  rbacUsage(): Set<string> {
    const used = new Set<string>();
    for (const record of this.requests) {
      if (!record.resource || record.status === 401) continue;
      used.add(`${record.group}/${record.resource}${record.subresource ? `/${record.subresource}` : ""}:${record.verb}`);
    }
    return used;
  }

  /** How many create requests named that object (including the ones answered 409 or 422). */
  createCount(resource: string, namespace: string, name: string): number {
    return this.requests.filter((record) => record.verb === "create" && record.resource === resource && record.namespace === namespace && record.name === name).length;
  }

  /** Forgets the watch history: a watch from an older resourceVersion then gets a 410 Gone ERROR event. */
  compactHistory(): void {
    this.cluster.store.compact();
  }

  /** URL (http://127.0.0.1:<port>) of the newest READY pod process of a Deployment, or null. */
  deploymentEndpoint(namespace: string, name: string): string | null {
    return this.cluster.deployments.endpoint(namespace, name);
  }

  /** The stored object (a copy), bypassing the HTTP layer. */
  getObject(resource: "jobs" | "pods" | "deployments" | "secrets" | "services" | "configmaps" | "serviceaccounts", namespace: string, name: string): Record<string, unknown> | null {
    return this.cluster.store.get(resource, namespace, name);
  }

  /** Closes the server and open watches, kills every local process (process groups) and waits for them. */
  async stop(): Promise<void> {
    for (const close of [...this.watches]) close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await this.cluster.stop();
    await closed;
    if (this.ownedLogDir) rmSync(this.ownedLogDir, { recursive: true, force: true });
  }

  // ----------------------------------------------------------------------------------------------

  private send(response: ServerResponse, record: ApiRequestRecord, code: number, body: unknown, warnings: string[] = []): void {
    record.status = code;
    if (response.headersSent) {
      response.end();
      return;
    }
    const headers: Record<string, string | string[]> = { "Content-Type": "application/json", "Cache-Control": "no-cache, private", "Audit-Id": randomBytes(16).toString("hex") };
    if (warnings.length > 0) headers.Warning = warnings;
    response.writeHead(code, headers);
    response.end(`${JSON.stringify(body)}\n`);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const method = request.method ?? "GET";
    const record: ApiRequestRecord = { method, path: url.pathname, verb: "get", group: "", version: "", resource: "", subresource: null, namespace: null, name: null, status: 0 };
    this.requests.push(record);
    try {
      const segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      const route = parseRoute(segments, method, url.searchParams);
      if (route && route !== "discovery") {
        Object.assign(record, { verb: route.verb, group: route.group, version: route.version, resource: route.resource, subresource: route.subresource, namespace: route.namespace, name: route.name });
      }
      if (request.headers.authorization !== `Bearer ${this.token}`) throw unauthorized();
      if (route === null || route === "discovery") {
        this.serveNonResource(response, record, url.pathname);
        return;
      }
      await this.serveResource(request, response, record, route, url.searchParams);
    } catch (error) {
      if (error instanceof ApiError) this.send(response, record, error.code, error.toStatus(), error.warnings);
      else {
        const status: StatusBody = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `Internal error occurred: ${(error as Error).message}`, reason: "InternalError", code: 500 };
        this.send(response, record, 500, status);
      }
    }
  }

  private serveNonResource(response: ServerResponse, record: ApiRequestRecord, path: string): void {
    const trimmed = path.replace(/\/+$/, "") || "/";
    if (trimmed === "/healthz" || trimmed === "/livez" || trimmed === "/readyz") {
      record.status = 200;
      response.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" }).end("ok");
      return;
    }
    if (trimmed === "/version") {
      this.send(response, record, 200, { major: "1", minor: "34", gitVersion: "v1.34.0-fake", gitCommit: "0000000000000000000000000000000000000000", gitTreeState: "clean", buildDate: "2025-08-27T00:00:00Z", goVersion: "go1.24.6", compiler: "gc", platform: "linux/amd64" });
      return;
    }
    if (trimmed === "/api") {
      this.send(response, record, 200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: new URL(this.url).host }] });
      return;
    }
    const groups = [...new Set(RESOURCES.filter((info) => info.group).map((info) => info.group))];
    const groupDoc = (name: string): Record<string, unknown> => ({ name, versions: [{ groupVersion: `${name}/v1`, version: "v1" }], preferredVersion: { groupVersion: `${name}/v1`, version: "v1" } });
    if (trimmed === "/apis") {
      this.send(response, record, 200, { kind: "APIGroupList", apiVersion: "v1", groups: groups.map(groupDoc) });
      return;
    }
    const group = /^\/apis\/([^/]+)$/.exec(trimmed)?.[1];
    if (group && groups.includes(group)) {
      this.send(response, record, 200, { kind: "APIGroup", apiVersion: "v1", ...groupDoc(group) });
      return;
    }
    const groupVersion = trimmed === "/api/v1" ? "v1" : /^\/apis\/([^/]+\/[^/]+)$/.exec(trimmed)?.[1];
    const served = RESOURCES.filter((info) => apiVersionOf(info) === groupVersion);
    if (groupVersion && served.length > 0) {
      const resources = served.flatMap((info) => [
        { name: info.resource, singularName: info.kind.toLowerCase(), namespaced: info.namespaced, kind: info.kind, verbs: info.verbs },
        ...Object.entries(info.subresources).map(([sub, verbs]) => ({ name: `${info.resource}/${sub}`, singularName: "", namespaced: info.namespaced, kind: sub === "log" ? "Pod" : info.kind, verbs })),
      ]);
      this.send(response, record, 200, { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources });
      return;
    }
    throw resourceNotFound();
  }

  private async readBody(request: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw new ApiError(413, "RequestEntityTooLarge", `Request entity too large: limit is ${MAX_BODY}`);
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
    }
  }

  private async serveResource(request: IncomingMessage, response: ServerResponse, record: ApiRequestRecord, route: Route, query: URLSearchParams): Promise<void> {
    const info = findResource(route.group, route.version, route.resource);
    if (!info || (route.namespace !== null && !info.namespaced) || route.verb === "unknown") throw resourceNotFound();
    if (info.namespaced && route.name !== null && route.namespace === null) throw resourceNotFound();
    if (route.subresource !== null) {
      const verbs = info.subresources[route.subresource];
      if (!verbs) throw resourceNotFound();
      if (!verbs.includes(route.verb)) throw methodNotAllowed();
    } else if (!info.verbs.includes(route.verb)) throw methodNotAllowed();
    if (route.name === null && (route.verb === "update" || route.verb === "patch")) throw methodNotAllowed();
    if (info.namespaced && route.namespace === null && (route.verb === "create" || route.verb === "deletecollection")) throw methodNotAllowed();
    if (route.name !== null && route.verb === "create") throw methodNotAllowed();
    const namespace = route.namespace ?? "";
    const dryRunParam = query.get("dryRun");
    if (dryRunParam !== null && dryRunParam !== "All") throw badRequest(`unsupported dry run value: "${dryRunParam}"; supported value: "All"`);
    const writeOptions = (): WriteOptions => ({ fieldValidation: parseFieldValidation(query.get("fieldValidation")), dryRun: dryRunParam === "All" });
    const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    switch (route.verb) {
      case "get": {
        if (route.subresource === "log") {
          const text = this.cluster.podLog(namespace, route.name!, query);
          record.status = 200;
          response.writeHead(200, { "Content-Type": "text/plain" }).end(text);
          return;
        }
        const found = this.cluster.store.get(info.resource, namespace, route.name!);
        if (!found) throw notFound(info.group, info.resource, route.name!);
        this.send(response, record, 200, found);
        return;
      }
      case "list":
        this.send(response, record, 200, this.list(info, route.namespace, query));
        return;
      case "watch":
        this.watch(request, response, record, info, route.namespace, route.name, query);
        return;
      case "create": {
        if (contentType !== "application/json") throw unsupported();
        const body = await this.readBody(request);
        if (isRecord(body) && isRecord(body.metadata) && typeof body.metadata.name === "string") record.name = body.metadata.name;
        const result = this.cluster.create(info, namespace, body, writeOptions());
        record.name = result.object.metadata.name ?? record.name;
        this.send(response, record, 201, result.object, result.warnings);
        return;
      }
      case "update": {
        if (contentType !== "application/json") throw unsupported();
        const result = this.cluster.update(info, namespace, route.name!, await this.readBody(request), writeOptions(), route.subresource);
        this.send(response, record, 200, result.object, result.warnings);
        return;
      }
      case "patch": {
        const result = this.cluster.patch(info, namespace, route.name!, contentType, await this.readBody(request), writeOptions(), route.subresource);
        this.send(response, record, 200, result.object, result.warnings);
        return;
      }
      case "delete": {
        const result = this.cluster.deleteObject(info, namespace, route.name!, this.deleteOptions(await this.readBody(request), query));
        this.send(response, record, result.code, result.body, result.warnings);
        return;
      }
      case "deletecollection": {
        const options = this.deleteOptions(await this.readBody(request), query);
        const list = this.list(info, route.namespace, query);
        const items: KObject[] = [];
        const warnings = new Set<string>();
        for (const item of list.items) {
          const result = this.cluster.deleteObject(info, namespace, item.metadata.name ?? "", options);
          result.warnings.forEach((warning) => warnings.add(warning));
          items.push(result.body.kind === "Status" ? item : stripTypeMeta(result.body as KObject));
        }
        this.send(response, record, 200, { ...list, items }, [...warnings]);
        return;
      }
      default:
        throw methodNotAllowed();
    }
  }

  private deleteOptions(body: unknown, query: URLSearchParams): DeleteOptions {
    const options: DeleteOptions = {};
    if (isRecord(body)) {
      if (typeof body.propagationPolicy === "string") options.propagationPolicy = body.propagationPolicy;
      if (typeof body.orphanDependents === "boolean") options.orphanDependents = body.orphanDependents;
      if (typeof body.gracePeriodSeconds === "number") options.gracePeriodSeconds = body.gracePeriodSeconds;
      if (isRecord(body.preconditions)) options.preconditions = body.preconditions;
      if (Array.isArray(body.dryRun) && body.dryRun.includes("All")) options.dryRun = true;
    }
    const policy = query.get("propagationPolicy");
    if (policy) options.propagationPolicy = policy;
    const orphan = query.get("orphanDependents");
    if (orphan !== null) options.orphanDependents = orphan === "true";
    const grace = query.get("gracePeriodSeconds");
    if (grace !== null) options.gracePeriodSeconds = Number(grace);
    if (query.get("dryRun") === "All") options.dryRun = true;
    return options;
  }

  private list(info: ResourceInfo, namespace: string | null, query: URLSearchParams): { kind: string; apiVersion: string; metadata: Record<string, unknown>; items: KObject[] } {
    const labels = parseLabelSelector(query.get("labelSelector"));
    const fields = parseFieldSelector(query.get("fieldSelector"), info);
    let items = this.cluster.store.list(info.resource, namespace).filter((object) => labels(object) && fields(object));
    const metadata: Record<string, unknown> = { resourceVersion: String(this.cluster.store.currentRv()) };
    const token = query.get("continue");
    let offset = 0;
    if (token) {
      try {
        offset = (JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { start: number }).start;
      } catch {
        throw badRequest("continue key is not valid: illegal base64 data");
      }
      items = items.slice(offset);
    }
    const limit = Number(query.get("limit") ?? 0);
    if (limit > 0 && items.length > limit) {
      metadata.continue = Buffer.from(JSON.stringify({ start: offset + limit })).toString("base64url");
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    return { kind: `${info.kind}List`, apiVersion: apiVersionOf(info), metadata, items: items.map(stripTypeMeta) };
  }

  private watch(request: IncomingMessage, response: ServerResponse, record: ApiRequestRecord, info: ResourceInfo, namespace: string | null, name: string | null, query: URLSearchParams): void {
    const labels = parseLabelSelector(query.get("labelSelector"));
    const fields = parseFieldSelector(query.get("fieldSelector"), info);
    const matches = (object: KObject): boolean => labels(object) && fields(object) && (name === null || object.metadata.name === name);
    const rvParam = query.get("resourceVersion") ?? "";
    let backlog: StoreEvent[] | null = null;
    let expiredError: ApiError | null = null;
    if (rvParam !== "" && rvParam !== "0") {
      const rv = Number(rvParam);
      if (!/^\d+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`);
      try {
        backlog = this.cluster.store.eventsSince(rv);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        expiredError = error;
      }
    }
    record.status = 200;
    response.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private", "Transfer-Encoding": "chunked" });
    response.flushHeaders();
    const write = (type: string, object: unknown): void => {
      response.write(`${JSON.stringify({ type, object })}\n`);
    };
    if (expiredError) {
      write("ERROR", expiredError.toStatus());
      response.end();
      return;
    }
    const deliver = (event: StoreEvent): void => {
      if (event.resource !== info.resource || (namespace !== null && event.namespace !== namespace)) return;
      if (event.type === "ADDED") {
        if (matches(event.object)) write("ADDED", event.object);
      } else if (event.type === "DELETED") {
        if (matches(event.object)) write("DELETED", event.object);
      } else {
        const now = matches(event.object);
        const before = event.previous !== null && matches(event.previous);
        if (now) write(before ? "MODIFIED" : "ADDED", event.object);
        else if (before) write("DELETED", { ...event.previous, metadata: { ...event.previous!.metadata, resourceVersion: event.object.metadata.resourceVersion } });
      }
    };
    if (backlog === null) {
      for (const object of this.cluster.store.list(info.resource, namespace)) if (matches(object)) write("ADDED", object);
    } else for (const event of backlog) deliver(event);
    const unsubscribe = this.cluster.store.subscribe(deliver);
    let timer: NodeJS.Timeout | null = null;
    const close = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      this.watches.delete(close);
      if (!response.writableEnded) response.end();
    };
    this.watches.add(close);
    const timeoutSeconds = Number(query.get("timeoutSeconds") ?? 0);
    if (timeoutSeconds > 0) timer = setTimeout(close, timeoutSeconds * 1000);
    response.on("close", close);
    request.on("error", close);
  }
}

function unsupported(): ApiError {
  return new ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf", {});
}
