import * as monitoringV1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import * as appsV1 from "kubernetes-models/apps/v1";
import * as autoscalingV2 from "kubernetes-models/autoscaling/v2";
import * as batchV1 from "kubernetes-models/batch/v1";
import * as networkingV1 from "kubernetes-models/networking.k8s.io/v1";
import * as policyV1 from "kubernetes-models/policy/v1";
import * as rbacV1 from "kubernetes-models/rbac.authorization.k8s.io/v1";
import * as schedulingV1 from "kubernetes-models/scheduling.k8s.io/v1";
import * as coreV1 from "kubernetes-models/v1";

/**
 * Validation of Kubernetes objects against the official OpenAPI schemas, as compiled into
 * kubernetes-models (and @kubernetes-models/prometheus-operator for the monitoring CRDs).
 *
 * Those validators check types, enums, required fields and formats, but they do not reject a field
 * the schema does not know (a misspelled `securityContxt` passes, and the API server would drop it
 * or refuse it). So validateKubernetesObject also runs the model's validator over a tracing proxy of
 * the object: the compiled schema reads exactly the properties it declares (and every key of a map,
 * such as labels or resource limits, whose values it checks), so any key of the object that the
 * validator never read is a field the schema does not have. A free-form object (a schema without
 * properties, like `x-kubernetes-preserve-unknown-fields`) reads nothing and is reported too, which
 * is on the strict side; faceops' objects have none.
 */

interface KubernetesModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: object): { validate(): void; toJSON(): unknown };
}

function isModelClass(value: unknown): value is KubernetesModelClass {
  if (typeof value !== "function") return false;
  const candidate = value as unknown as Record<string, unknown>;
  return typeof candidate.apiVersion === "string" && typeof candidate.kind === "string" && typeof (value.prototype as Record<string, unknown>).validate === "function";
}

/** apiVersion/kind -> the model class, from every class the group-version modules export. */
const modelClasses: ReadonlyMap<string, KubernetesModelClass> = (() => {
  const map = new Map<string, KubernetesModelClass>();
  for (const module of [coreV1, appsV1, batchV1, rbacV1, policyV1, networkingV1, autoscalingV2, schedulingV1, monitoringV1] as const) {
    for (const exported of Object.values(module)) {
      if (isModelClass(exported)) map.set(`${exported.apiVersion}/${exported.kind}`, exported);
    }
  }
  return map;
})();

/** The model class of an apiVersion and kind, e.g. ("apps/v1", "Deployment"). */
export function modelClassFor(apiVersion: string, kind: string): KubernetesModelClass | undefined {
  return modelClasses.get(`${apiVersion}/${kind}`);
}

/** Every apiVersion/kind validateKubernetesObject knows. */
export function knownKinds(): string[] {
  return [...modelClasses.keys()].sort();
}

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pointer(path: readonly (string | number)[]): string {
  return path.map((part) => `/${String(part).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

/**
 * Runs `validate` over a proxy of `data` that records which keys of each object were read, and
 * returns the JSON pointers of the keys that never were.
 */
export function unreadKeys(data: object, validate: (proxy: object) => void): string[] {
  const read = new WeakMap<object, Set<string>>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      const keys = new Set<string>();
      read.set(value, keys);
      proxy = new Proxy(value, {
        get(target, key, receiver) {
          if (typeof key === "string") keys.add(key);
          return wrap(Reflect.get(target, key, receiver));
        },
        has(target, key) {
          if (typeof key === "string") keys.add(key);
          return Reflect.has(target, key);
        },
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  validate(wrap(data) as object);

  const unread: string[] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, [...path, index]));
      return;
    }
    if (!isTree(value)) return;
    const keys = read.get(value);
    for (const [key, child] of Object.entries(value)) {
      if (keys?.has(key)) walk(child, [...path, key]);
      else unread.push(pointer([...path, key]));
    }
  };
  walk(data, []);
  return unread;
}

function describe(object: Tree): string {
  const metadata = isTree(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === "string" ? metadata.name : "(unnamed)";
  const namespace = typeof metadata.namespace === "string" ? `${metadata.namespace}/` : "";
  return `${String(object.apiVersion)} ${String(object.kind)} ${namespace}${name}`;
}

/**
 * Throws unless `object` is a valid Kubernetes object of a known apiVersion/kind with no field its
 * schema does not declare. The error names the object and the offending path(s).
 */
export function validateKubernetesObject(object: unknown): void {
  if (!isTree(object)) throw new Error(`not a Kubernetes object: ${JSON.stringify(object)}`);
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== "string" || typeof kind !== "string") throw new Error(`${describe(object)}: apiVersion and kind must be strings`);
  const Model = modelClassFor(apiVersion, kind);
  if (!Model) throw new Error(`${describe(object)}: no schema for ${apiVersion}/${kind} (known: ${knownKinds().join(", ")})`);
  const model = new Model(object);
  try {
    model.validate();
  } catch (error) {
    // ajv's message names each failing path, e.g. "data/spec/replicas must be integer".
    throw new Error(`${describe(object)} is invalid: ${(error as Error).message}`, { cause: error });
  }
  const plain = structuredClone(model.toJSON()) as object;
  const validateOnProxy = (Model.prototype as { validate: (this: object) => void }).validate;
  const unknown = unreadKeys(plain, (proxy) => validateOnProxy.call(proxy));
  if (unknown.length > 0) {
    throw new Error(`${describe(object)} has field(s) its schema does not know: ${unknown.join(", ")}`);
  }
}
