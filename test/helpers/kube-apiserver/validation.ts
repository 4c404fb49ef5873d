import * as k8s from "@kubernetes/client-node";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Event } from "kubernetes-models/v1/Event";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Pod } from "kubernetes-models/v1/Pod";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { badRequest, invalid, type FieldError } from "./errors.js";
import { matchesLabelSelector, type LabelSelectorObject } from "./selectors.js";
import { isRecord, stableJson, type KObject, type ResourceInfo } from "./resources.js";

/**
 * Three layers, in the order the real server applies them:
 *  1. decoding: unknown fields (fieldValidation Strict/Warn/Ignore) and JSON type errors -> 400 BadRequest;
 *  2. the OpenAPI schema (kubernetes-models' validators: required, enum, formats) -> 422 Invalid;
 *  3. a few of the server's semantic checks (names, containers, restartPolicy, selectors, immutable fields) -> 422 Invalid.
 * kubernetes-models' schemas do not forbid unknown properties, so layer 1 walks the object against
 * client-node's model attribute maps (generated from the same OpenAPI document).
 */

interface SchemaModel {
  validate(): void;
}
type ModelClass = new (data: never) => SchemaModel;

const schemaModels: Record<string, ModelClass> = {
  Pod: Pod,
  Secret: Secret,
  ConfigMap: ConfigMap,
  ServiceAccount: ServiceAccount,
  Service: Service,
  Event: Event,
  Namespace: Namespace,
  Job: Job,
  Deployment: Deployment,
};

interface AttributeType {
  baseName: string;
  type: string;
}

function attributesOf(type: string): AttributeType[] | null {
  const model = (k8s as unknown as Record<string, unknown>)[type];
  if (typeof model !== "function") return null;
  const getter = (model as { getAttributeTypeMap?: () => AttributeType[] }).getAttributeTypeMap;
  return typeof getter === "function" ? getter.call(model) : null;
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Finds (and with `prune`, deletes) fields the schema does not know, as `spec.template.spec.containers[0].bogus`. */
function unknownFields(value: unknown, type: string, path: string, prune: boolean, out: string[]): void {
  if (value === null || value === undefined) return;
  if (type.startsWith("Array<")) {
    const inner = type.slice("Array<".length, -1);
    if (Array.isArray(value)) value.forEach((item, index) => unknownFields(item, inner, `${path}[${index}]`, prune, out));
    return;
  }
  if (type.startsWith("{ [key: string]: ")) {
    const inner = type.slice("{ [key: string]: ".length, -"; }".length);
    if (isRecord(value)) for (const [key, item] of Object.entries(value)) unknownFields(item, inner, `${path}[${key}]`, prune, out);
    return;
  }
  const attributes = attributesOf(type);
  if (!attributes || !isRecord(value)) return;
  for (const [key, item] of Object.entries(value)) {
    const attribute = attributes.find((candidate) => candidate.baseName === key);
    if (!attribute) {
      out.push(childPath(path, key));
      if (prune) delete value[key];
    } else unknownFields(item, attribute.type, childPath(path, key), prune, out);
  }
}

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export function parseFieldValidation(value: string | null): FieldValidation {
  // The real server defaults to Warn; this fake defaults to Strict (what kubectl sends) so that a
  // misspelt field fails a test instead of being dropped silently.
  if (value === null || value === "" || value === "Strict") return "Strict";
  if (value === "Warn" || value === "Ignore") return value;
  throw badRequest(`fieldValidation must be one of "Ignore", "Warn" or "Strict", got "${value}"`);
}

/**
 * Decoding-time checks. `context` "body" is a create/update body (errors read
 * `Job in version "v1" cannot be handled as a Job: ...`); "patch" is the result of a patch.
 * Returns the Warning header values for fieldValidation=Warn.
 */
export function decode(info: ResourceInfo, object: KObject, mode: FieldValidation, context: "body" | "patch"): string[] {
  const unknown: string[] = [];
  unknownFields(object, info.clientModel, "", mode !== "Strict", unknown);
  const prefix = context === "body" ? `${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: ` : "";
  if (unknown.length > 0 && mode === "Strict") throw badRequest(`${prefix}strict decoding error: ${unknown.map((field) => `unknown field "${field}"`).join(", ")}`);
  const typeErrors = schemaErrors(info, object).filter((error) => error.decode);
  if (typeErrors.length > 0) {
    const first = typeErrors[0]!;
    const message = `json: cannot unmarshal ${describe(first.value)} into Go struct field ${info.kind}.${first.field} of type ${first.expected}`;
    if (context === "body") throw badRequest(`${prefix}${message}`);
    throw invalid("", "", "", [{ field: "patch", type: "Invalid", value: "<patched object>", detail: message }]);
  }
  if (info.kind === "Secret") checkBase64(object, prefix);
  return mode === "Warn" ? unknown.map((field) => `299 - "unknown field \\"${field}\\""`) : [];
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  return typeof value === "object" ? "object" : typeof value;
}

interface SchemaError {
  field: string;
  decode: boolean;
  keyword: string;
  expected: string;
  value: unknown;
  missing?: string;
  allowed?: unknown[];
}

interface AjvError {
  instancePath: string;
  keyword: string;
  params: { type?: string; missingProperty?: string; allowedValues?: unknown[]; format?: string };
  message?: string;
}

function pointerToField(pointer: string): string {
  let out = "";
  for (const part of pointer.split("/").slice(1)) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    out = /^\d+$/.test(key) ? `${out}[${key}]` : childPath(out, key);
  }
  return out;
}

function valueAt(object: unknown, pointer: string): unknown {
  let current = object;
  for (const part of pointer.split("/").slice(1)) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    current = Array.isArray(current) ? current[Number(key)] : isRecord(current) ? current[key] : undefined;
  }
  return current;
}

function schemaErrors(info: ResourceInfo, object: KObject): SchemaError[] {
  const model = schemaModels[info.kind];
  if (!model) return [];
  try {
    new model(object as never).validate();
    return [];
  } catch (error) {
    const list = (error as { errors?: AjvError[] }).errors;
    if (!Array.isArray(list)) throw error;
    const seen = new Set<string>();
    const out: SchemaError[] = [];
    for (const item of list) {
      const field = pointerToField(item.instancePath);
      const decodeError = item.keyword === "type" || item.keyword === "format" || item.keyword === "oneOf";
      const key = `${field}|${decodeError ? "decode" : item.keyword}|${item.params.missingProperty ?? ""}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({
        field,
        decode: decodeError,
        keyword: item.keyword,
        expected: item.params.type ?? item.params.format ?? "value",
        value: valueAt(object, item.instancePath),
        missing: item.params.missingProperty,
        allowed: item.params.allowedValues,
      });
    }
    return out;
  }
}

function checkBase64(object: KObject, prefix: string): void {
  const data = object.data;
  if (!isRecord(data)) return;
  for (const value of Object.values(data)) {
    if (typeof value === "string" && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw badRequest(`${prefix}illegal base64 data at input byte 0`);
  }
}

// ---------------------------------------------------------------------------------------------
// Defaulting (what the server's SetDefaults_* functions and admission add to what clients send).

function defaultContainer(container: Record<string, unknown>): void {
  container.terminationMessagePath ??= "/dev/termination-log";
  container.terminationMessagePolicy ??= "File";
  if (container.imagePullPolicy === undefined && typeof container.image === "string") {
    const tag = /:([^/:@]+)$/.exec(container.image)?.[1];
    container.imagePullPolicy = !tag || tag === "latest" ? "Always" : "IfNotPresent";
  }
  if (Array.isArray(container.ports)) for (const port of container.ports) if (isRecord(port)) port.protocol ??= "TCP";
  for (const probeName of ["readinessProbe", "livenessProbe", "startupProbe"]) {
    const probe = container[probeName];
    if (!isRecord(probe)) continue;
    probe.timeoutSeconds ??= 1;
    probe.periodSeconds ??= 10;
    probe.successThreshold ??= 1;
    probe.failureThreshold ??= 3;
    if (isRecord(probe.httpGet)) probe.httpGet.scheme ??= "HTTP";
  }
  if (Array.isArray(container.env))
    for (const env of container.env) if (isRecord(env) && isRecord(env.valueFrom) && isRecord(env.valueFrom.fieldRef)) env.valueFrom.fieldRef.apiVersion ??= "v1";
}

export function defaultPodSpec(spec: Record<string, unknown>): void {
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  for (const list of ["containers", "initContainers"]) {
    const containers = spec[list];
    if (Array.isArray(containers)) for (const container of containers) if (isRecord(container)) defaultContainer(container);
  }
}

function record(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = parent[key];
  if (isRecord(value)) return value;
  const fresh: Record<string, unknown> = {};
  parent[key] = fresh;
  return fresh;
}

/** Applies the defaults of the kind (a Job derives its selector and pod labels from metadata.uid, so that must be set). */
export function applyDefaults(info: ResourceInfo, object: KObject): void {
  switch (info.kind) {
    case "Pod": {
      const spec = record(object, "spec");
      defaultPodSpec(spec);
      spec.enableServiceLinks ??= true;
      spec.serviceAccountName ??= "default";
      spec.serviceAccount ??= spec.serviceAccountName;
      spec.priority ??= 0;
      spec.preemptionPolicy ??= "PreemptLowerPriority";
      spec.tolerations ??= [
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      ];
      break;
    }
    case "Job": {
      const spec = record(object, "spec");
      spec.parallelism ??= 1;
      spec.completions ??= 1;
      spec.backoffLimit ??= 6;
      spec.completionMode ??= "NonIndexed";
      spec.suspend ??= false;
      spec.podReplacementPolicy ??= "TerminatingOrFailed";
      const template = record(spec, "template");
      defaultPodSpec(record(template, "spec"));
      // The generated selector and template labels (the Job strategy's PrepareForCreate).
      const uid = object.metadata.uid ?? "";
      const name = object.metadata.name ?? "";
      if (spec.manualSelector !== true && !isRecord(spec.selector)) spec.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
      const templateMeta = record(template, "metadata");
      if (spec.manualSelector !== true)
        templateMeta.labels = {
          ...(isRecord(templateMeta.labels) ? templateMeta.labels : {}),
          "batch.kubernetes.io/controller-uid": uid,
          "batch.kubernetes.io/job-name": name,
          "controller-uid": uid,
          "job-name": name,
        };
      break;
    }
    case "Deployment": {
      const spec = record(object, "spec");
      spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      const strategy = record(spec, "strategy");
      strategy.type ??= "RollingUpdate";
      if (strategy.type === "RollingUpdate") {
        const rolling = record(strategy, "rollingUpdate");
        rolling.maxUnavailable ??= "25%";
        rolling.maxSurge ??= "25%";
      }
      defaultPodSpec(record(record(spec, "template"), "spec"));
      break;
    }
    case "Service": {
      const spec = record(object, "spec");
      spec.type ??= "ClusterIP";
      spec.sessionAffinity ??= "None";
      spec.internalTrafficPolicy ??= "Cluster";
      spec.ipFamilies ??= ["IPv4"];
      spec.ipFamilyPolicy ??= "SingleStack";
      if (Array.isArray(spec.ports))
        for (const port of spec.ports)
          if (isRecord(port)) {
            port.protocol ??= "TCP";
            port.targetPort ??= port.port;
          }
      break;
    }
    case "Secret": {
      object.type ??= "Opaque";
      if (isRecord(object.stringData)) {
        const data = record(object, "data");
        for (const [key, value] of Object.entries(object.stringData)) data[key] = Buffer.from(String(value)).toString("base64");
        delete object.stringData;
      }
      break;
    }
    case "Namespace": {
      object.metadata.labels = { ...object.metadata.labels, "kubernetes.io/metadata.name": object.metadata.name ?? "" };
      record(object, "spec").finalizers ??= ["kubernetes"];
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Semantic validation.

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const qualifiedName = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const envName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const configKey = /^[-._a-zA-Z0-9]+$/;

const subdomainDetail =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const labelDetail =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

function checkName(value: string, field: string, asLabel: boolean, errors: FieldError[]): void {
  if (asLabel ? value.length > 63 || !dns1123Label.test(value) : value.length > 253 || !dns1123Subdomain.test(value))
    errors.push({ field, type: "Invalid", value, detail: asLabel ? labelDetail : subdomainDetail });
}

function checkLabels(labels: unknown, field: string, errors: FieldError[]): void {
  if (!isRecord(labels)) return;
  for (const [key, value] of Object.entries(labels)) {
    if (!qualifiedName.test(key) || key.length > 316) errors.push({ field, type: "Invalid", value: key, detail: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" });
    if (typeof value === "string" && (value.length > 63 || !labelValue.test(value)))
      errors.push({
        field,
        type: "Invalid",
        value,
        detail: "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      });
  }
}

function checkPodSpec(spec: unknown, path: string, errors: FieldError[]): void {
  if (!isRecord(spec)) {
    errors.push({ field: `${path}.containers`, type: "Required" });
    return;
  }
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) errors.push({ field: `${path}.containers`, type: "Required" });
  const names = new Set<string>();
  for (const list of ["initContainers", "containers"]) {
    const items = spec[list];
    if (!Array.isArray(items)) continue;
    items.forEach((item, index) => {
      if (!isRecord(item)) return;
      const at = `${path}.${list}[${index}]`;
      const name = item.name;
      if (typeof name === "string") {
        if (!name) errors.push({ field: `${at}.name`, type: "Required" });
        else {
          checkName(name, `${at}.name`, true, errors);
          if (names.has(name)) errors.push({ field: `${at}.name`, type: "Duplicate", value: name });
          names.add(name);
        }
      }
      if (typeof item.image !== "string" || !item.image.trim()) errors.push({ field: `${at}.image`, type: "Required" });
      if (Array.isArray(item.env))
        item.env.forEach((env, envIndex) => {
          if (!isRecord(env)) return;
          const envAt = `${at}.env[${envIndex}].name`;
          if (typeof env.name !== "string" || !env.name) errors.push({ field: envAt, type: "Required" });
          else if (!envName.test(env.name))
            errors.push({ field: envAt, type: "Invalid", value: env.name, detail: "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit" });
          if (env.value !== undefined && env.valueFrom !== undefined) errors.push({ field: `${at}.env[${envIndex}].valueFrom`, type: "Invalid", value: "", detail: "may not be specified when `value` is not empty" });
        });
    });
  }
  const policy = spec.restartPolicy;
  if (policy !== undefined && policy !== "Always" && policy !== "OnFailure" && policy !== "Never")
    errors.push({ field: `${path}.restartPolicy`, type: "NotSupported", value: policy, detail: 'supported values: "Always", "OnFailure", "Never"' });
}

function nonNegative(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value === "number" && value < 0) errors.push({ field, type: "Invalid", value, detail: "must be greater than or equal to 0" });
}

function same(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

/** 422 checks. `old` is the stored object on update/patch. */
export function validate(info: ResourceInfo, object: KObject, old: KObject | null): void {
  const errors: FieldError[] = [];
  const name = object.metadata.name ?? "";
  for (const error of schemaErrors(info, object)) {
    if (error.decode) continue;
    if (error.keyword === "required") errors.push({ field: childPath(error.field, error.missing ?? ""), type: "Required" });
    else if (error.keyword === "enum")
      errors.push({ field: error.field, type: "NotSupported", value: error.value, detail: `supported values: ${(error.allowed ?? []).map((value) => JSON.stringify(value)).join(", ")}` });
    else errors.push({ field: error.field, type: "Invalid", value: error.value, detail: error.keyword });
  }
  if (!name) errors.push({ field: "metadata.name", type: "Required", detail: "name or generateName is required" });
  else checkName(name, "metadata.name", info.kind === "Namespace" || info.kind === "Service", errors);
  checkLabels(object.metadata.labels, "metadata.labels", errors);
  const spec = isRecord(object.spec) ? object.spec : {};
  switch (info.kind) {
    case "Pod":
      checkPodSpec(object.spec, "spec", errors);
      if (old && !same(withoutImages(old.spec), withoutImages(object.spec)))
        errors.push({
          field: "spec",
          type: "Forbidden",
          detail: "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        });
      break;
    case "Job": {
      const template = isRecord(spec.template) ? spec.template : {};
      const templateMeta = isRecord(template.metadata) ? template.metadata : {};
      checkLabels(templateMeta.labels, "spec.template.metadata.labels", errors);
      checkPodSpec(template.spec, "spec.template.spec", errors);
      const policy = isRecord(template.spec) ? template.spec.restartPolicy : undefined;
      if (policy !== "OnFailure" && policy !== "Never") errors.push({ field: "spec.template.spec.restartPolicy", type: "Required", detail: 'valid values: "OnFailure", "Never"' });
      nonNegative(spec.backoffLimit, "spec.backoffLimit", errors);
      nonNegative(spec.parallelism, "spec.parallelism", errors);
      nonNegative(spec.completions, "spec.completions", errors);
      if (typeof spec.activeDeadlineSeconds === "number" && spec.activeDeadlineSeconds <= 0)
        errors.push({ field: "spec.activeDeadlineSeconds", type: "Invalid", value: spec.activeDeadlineSeconds, detail: "must be greater than or equal to 1" });
      if (!matchesLabelSelector(spec.selector as LabelSelectorObject | undefined, templateMeta.labels as Record<string, string> | undefined))
        errors.push({ field: "spec.template.metadata.labels", type: "Invalid", value: templateMeta.labels ?? null, detail: "`selector` does not match template `labels`" });
      if (old && isRecord(old.spec)) {
        for (const field of ["template", "selector", "completionMode"])
          if (!same(old.spec[field], spec[field])) errors.push({ field: `spec.${field}`, type: "Invalid", value: spec[field] ?? null, detail: "field is immutable" });
      }
      break;
    }
    case "Deployment": {
      const template = isRecord(spec.template) ? spec.template : {};
      const templateMeta = isRecord(template.metadata) ? template.metadata : {};
      checkLabels(templateMeta.labels, "spec.template.metadata.labels", errors);
      checkPodSpec(template.spec, "spec.template.spec", errors);
      const policy = isRecord(template.spec) ? template.spec.restartPolicy : undefined;
      if (policy !== "Always") errors.push({ field: "spec.template.spec.restartPolicy", type: "NotSupported", value: policy ?? "", detail: 'supported values: "Always"' });
      nonNegative(spec.replicas, "spec.replicas", errors);
      const selector = spec.selector as LabelSelectorObject | undefined;
      if (!selector || typeof selector !== "object") errors.push({ field: "spec.selector", type: "Required" });
      else if (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)
        errors.push({ field: "spec.selector", type: "Invalid", value: selector, detail: "empty selector is invalid for deployment" });
      else if (!matchesLabelSelector(selector, templateMeta.labels as Record<string, string> | undefined))
        errors.push({ field: "spec.template.metadata.labels", type: "Invalid", value: templateMeta.labels ?? null, detail: "`selector` does not match template `labels`" });
      if (old && isRecord(old.spec) && !same(old.spec.selector, spec.selector)) errors.push({ field: "spec.selector", type: "Invalid", value: spec.selector ?? null, detail: "field is immutable" });
      break;
    }
    case "Service": {
      const headless = spec.clusterIP === "None";
      if (!headless && spec.type !== "ExternalName" && (!Array.isArray(spec.ports) || spec.ports.length === 0)) errors.push({ field: "spec.ports", type: "Required" });
      break;
    }
    case "Secret":
    case "ConfigMap": {
      for (const field of ["data", "binaryData"]) {
        const data = object[field];
        if (isRecord(data))
          for (const key of Object.keys(data))
            if (!configKey.test(key)) errors.push({ field: `${field}[${key}]`, type: "Invalid", value: key, detail: "a valid config key must consist of alphanumeric characters, '-', '_' or '.'" });
      }
      if (old && old.immutable === true && (!same(old.data, object.data) || !same(old.binaryData, object.binaryData)))
        errors.push({ field: "data", type: "Forbidden", detail: "field is immutable when `immutable` is set" });
      break;
    }
  }
  if (errors.length > 0) throw invalid(info.group, info.kind, name, errors);
}

function withoutImages(spec: unknown): unknown {
  if (!isRecord(spec)) return spec;
  const copy = structuredClone(spec);
  for (const list of ["containers", "initContainers"]) {
    const items = copy[list];
    if (Array.isArray(items)) for (const item of items) if (isRecord(item)) delete item.image;
  }
  delete copy.activeDeadlineSeconds;
  delete copy.tolerations;
  return copy;
}
