import type { IPod } from "kubernetes-models/v1/Pod";

/** ObjectMeta as it travels in JSON (timestamps are RFC 3339 strings). */
export type ObjectMeta = NonNullable<IPod["metadata"]>;

/** Any stored API object, as JSON. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type ResourceName = "pods" | "secrets" | "configmaps" | "serviceaccounts" | "services" | "events" | "namespaces" | "nodes" | "jobs" | "deployments";

export interface ResourceInfo {
  group: string;
  version: string;
  resource: ResourceName;
  kind: string;
  namespaced: boolean;
  /** RBAC verbs the fake serves on the main resource. */
  verbs: readonly string[];
  /** Subresources served, with their verbs. */
  subresources: Readonly<Record<string, readonly string[]>>;
  /** Has a status subresource: status is ignored on writes to the main resource, spec on writes to /status. */
  hasStatus: boolean;
  /** metadata.generation is kept and bumped when spec changes. */
  tracksGeneration: boolean;
  /** The client-node model class describing the schema (used for the unknown-field check). */
  clientModel: string;
  /** Field selector paths supported besides metadata.name and metadata.namespace (as the real server does, others are rejected). */
  fieldSelectors: readonly string[];
}

const crud = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"] as const;

export const RESOURCES: readonly ResourceInfo[] = [
  {
    group: "",
    version: "v1",
    resource: "pods",
    kind: "Pod",
    namespaced: true,
    verbs: crud,
    subresources: { status: ["get", "update", "patch"], log: ["get"] },
    hasStatus: true,
    tracksGeneration: false,
    clientModel: "V1Pod",
    fieldSelectors: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP"],
  },
  {
    group: "",
    version: "v1",
    resource: "secrets",
    kind: "Secret",
    namespaced: true,
    verbs: crud,
    subresources: {},
    hasStatus: false,
    tracksGeneration: false,
    clientModel: "V1Secret",
    fieldSelectors: ["type"],
  },
  {
    group: "",
    version: "v1",
    resource: "configmaps",
    kind: "ConfigMap",
    namespaced: true,
    verbs: crud,
    subresources: {},
    hasStatus: false,
    tracksGeneration: false,
    clientModel: "V1ConfigMap",
    fieldSelectors: [],
  },
  {
    group: "",
    version: "v1",
    resource: "serviceaccounts",
    kind: "ServiceAccount",
    namespaced: true,
    verbs: crud,
    subresources: {},
    hasStatus: false,
    tracksGeneration: false,
    clientModel: "V1ServiceAccount",
    fieldSelectors: [],
  },
  {
    group: "",
    version: "v1",
    resource: "services",
    kind: "Service",
    namespaced: true,
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    subresources: { status: ["get", "update", "patch"] },
    hasStatus: true,
    tracksGeneration: false,
    clientModel: "V1Service",
    fieldSelectors: [],
  },
  {
    group: "",
    version: "v1",
    resource: "events",
    kind: "Event",
    namespaced: true,
    verbs: crud,
    subresources: {},
    hasStatus: false,
    tracksGeneration: false,
    clientModel: "CoreV1Event",
    fieldSelectors: ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "reason", "reportingComponent", "source", "type"],
  },
  {
    group: "",
    version: "v1",
    resource: "namespaces",
    kind: "Namespace",
    namespaced: false,
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    subresources: { status: ["get"] },
    hasStatus: true,
    tracksGeneration: false,
    clientModel: "V1Namespace",
    fieldSelectors: ["status.phase"],
  },
  {
    group: "",
    version: "v1",
    resource: "nodes",
    kind: "Node",
    namespaced: false,
    verbs: ["get", "list", "watch"],
    subresources: { status: ["get"] },
    hasStatus: true,
    tracksGeneration: false,
    clientModel: "V1Node",
    fieldSelectors: ["spec.unschedulable"],
  },
  {
    group: "batch",
    version: "v1",
    resource: "jobs",
    kind: "Job",
    namespaced: true,
    verbs: crud,
    subresources: { status: ["get", "update", "patch"] },
    hasStatus: true,
    tracksGeneration: true,
    clientModel: "V1Job",
    fieldSelectors: [],
  },
  {
    group: "apps",
    version: "v1",
    resource: "deployments",
    kind: "Deployment",
    namespaced: true,
    verbs: crud,
    subresources: { status: ["get", "update", "patch"] },
    hasStatus: true,
    tracksGeneration: true,
    clientModel: "V1Deployment",
    fieldSelectors: [],
  },
];

export function resourceInfo(resource: ResourceName): ResourceInfo {
  const info = RESOURCES.find((candidate) => candidate.resource === resource);
  if (!info) throw new Error(`unknown resource ${resource}`);
  return info;
}

export function findResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return RESOURCES.find((info) => info.group === group && info.version === version && info.resource === resource);
}

export function apiVersionOf(info: ResourceInfo): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** Deep copy of a JSON value. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** RFC 3339 with second precision, as metav1.Time serializes. */
export function now(at: number = Date.now()): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

/** k8s.io/apimachinery/pkg/util/rand.String: the alphabet generated names use (no vowels, no 0/1/3). */
export function randomSuffix(length = 5): string {
  let out = "";
  for (let i = 0; i < length; i += 1) out += nameAlphabet[Math.floor(Math.random() * nameAlphabet.length)];
  return out;
}

/** Stable JSON (sorted keys) for hashing and comparing. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** pod-template-hash: FNV-1a of the template, in the same "safe" alphabet the deployment controller uses. */
export function templateHash(template: unknown): string {
  let hash = 0x811c9dc5;
  for (const char of stableJson(template)) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  let out = "";
  let rest = hash;
  do {
    out += nameAlphabet[rest % nameAlphabet.length];
    rest = Math.floor(rest / nameAlphabet.length);
  } while (rest > 0);
  return out;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
