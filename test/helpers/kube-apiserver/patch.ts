import { ApiError, badRequest } from "./errors.js";
import { clone, isRecord } from "./resources.js";

export const PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"] as const;

/** RFC 7386 JSON merge patch: objects merge recursively, null deletes, everything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const result: Record<string, unknown> = isRecord(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/**
 * The patchMergeKey of list fields in the built-in types this fake serves (from the `patchMergeKey`
 * struct tags in k8s.io/api). Lists not named here are replaced, as the real server does for lists
 * without a merge strategy.
 */
function mergeKeyFor(field: string, items: unknown[]): string | null {
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
    case "resourceClaims":
      return "name";
    case "volumeMounts":
    case "volumeDevices":
      return field === "volumeMounts" ? "mountPath" : "devicePath";
    case "ports":
      // Container ports merge on containerPort, Service ports on port.
      return items.some((item) => isRecord(item) && "containerPort" in item) ? "containerPort" : "port";
    case "conditions":
      return "type";
    case "ownerReferences":
      return "uid";
    case "hostAliases":
      return "ip";
    case "topologySpreadConstraints":
      return "topologyKey";
    default:
      return null;
  }
}

/** Primitive lists with patchStrategy "merge" (merged as sets). */
const mergedPrimitiveLists = new Set(["finalizers"]);

function strategicList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const current: unknown[] = Array.isArray(target) ? clone(target as unknown[]) : [];
  if (mergedPrimitiveLists.has(field)) {
    for (const item of patch) if (!current.includes(item)) current.push(item);
    return current;
  }
  const key = mergeKeyFor(field, [...current, ...patch]);
  if (!key || !patch.every(isRecord)) return patch.filter((item) => !(isRecord(item) && item.$patch === "delete")).map((item) => clone(item));
  if (patch.some((item) => isRecord(item) && item.$patch === "replace")) return patch.filter((item) => isRecord(item) && item.$patch !== "replace").map((item) => clone(item));
  for (const item of patch) {
    const index = current.findIndex((existing) => isRecord(existing) && existing[key] === item[key]);
    if (item.$patch === "delete") {
      if (index >= 0) current.splice(index, 1);
      continue;
    }
    if (index >= 0) current[index] = strategicMergePatch(current[index], item);
    else current.push(strategicMergePatch({}, item));
  }
  return current;
}

/**
 * An approximation of strategic merge patch: a merge patch in which lists of objects with a merge
 * key (containers, env, volumes and ports by name/port, ...) merge item by item instead of being
 * replaced. Supports the `$patch: delete|replace` directive and `$deleteFromPrimitiveList/<field>`;
 * `$setElementOrder/*` and `$retainKeys` are accepted and ignored.
 */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _directive, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const result: Record<string, unknown> = isRecord(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const list = result[field];
      if (Array.isArray(list) && Array.isArray(value)) result[field] = list.filter((item) => !value.includes(item));
      continue;
    }
    if (value === null) delete result[key];
    else if (Array.isArray(value)) result[key] = strategicList(key, result[key], value);
    else {
      const merged = strategicMergePatch(result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    }
  }
  return result;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new ApiError(422, "Invalid", `invalid JSON pointer: ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function applyFailure(op: string, path: string, why: string): ApiError {
  return new ApiError(422, "Invalid", `${op} operation does not apply: doc is missing path: "${path}": ${why}`);
}

function parentOf(document: unknown, parts: string[], op: string, path: string): { parent: Record<string, unknown> | unknown[]; last: string } {
  let current = document;
  for (const part of parts.slice(0, -1)) {
    if (Array.isArray(current)) current = current[Number(part)];
    else if (isRecord(current)) current = current[part];
    else current = undefined;
    if (current === undefined) throw applyFailure(op, path, "missing value");
  }
  if (!Array.isArray(current) && !isRecord(current)) throw applyFailure(op, path, "missing value");
  return { parent: current, last: parts[parts.length - 1]! };
}

function arrayIndex(parent: unknown[], last: string, op: string, path: string, allowEnd: boolean): number {
  const index = last === "-" && allowEnd ? parent.length : Number(last);
  if (!/^(\d+|-)$/.test(last) || Number.isNaN(index) || index < 0 || index > parent.length - (allowEnd ? 0 : 1)) throw applyFailure(op, path, "index out of range");
  return index;
}

function getAt(document: unknown, path: string, op: string): unknown {
  let current = document;
  for (const part of pointer(path)) {
    if (Array.isArray(current)) current = current[Number(part)];
    else if (isRecord(current)) current = current[part];
    else current = undefined;
    if (current === undefined) throw applyFailure(op, path, "missing value");
  }
  return current;
}

function removeAt(document: unknown, path: string, op: string): unknown {
  const { parent, last } = parentOf(document, pointer(path), op, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, op, path, false), 1)[0];
  if (!(last in parent)) throw applyFailure(op, path, "missing value");
  const value = parent[last];
  delete parent[last];
  return value;
}

function addAt(document: unknown, path: string, value: unknown, op: string): unknown {
  if (path === "") return value;
  const { parent, last } = parentOf(document, pointer(path), op, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, op, path, true), 0, value);
  else parent[last] = value;
  return document;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export function jsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest(`json: cannot unmarshal ${isRecord(patch) ? "object" : typeof patch} into Go value of type jsonpatch.Patch`);
  let document = clone(target);
  for (const raw of patch) {
    if (!isRecord(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") throw badRequest("json: invalid JSON patch operation");
    const op = raw as unknown as JsonPatchOp;
    switch (op.op) {
      case "add":
        document = addAt(document, op.path, clone(op.value), "add");
        break;
      case "remove":
        removeAt(document, op.path, "remove");
        break;
      case "replace":
        getAt(document, op.path, "replace");
        if (op.path === "") document = clone(op.value);
        else {
          removeAt(document, op.path, "replace");
          document = addAt(document, op.path, clone(op.value), "replace");
        }
        break;
      case "move": {
        const value = removeAt(document, op.from ?? "", "move");
        document = addAt(document, op.path, value, "move");
        break;
      }
      case "copy":
        document = addAt(document, op.path, clone(getAt(document, op.from ?? "", "copy")), "copy");
        break;
      case "test":
        if (JSON.stringify(getAt(document, op.path, "test")) !== JSON.stringify(op.value)) throw new ApiError(422, "Invalid", `testing value ${op.path} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return document;
}

/** Applies a patch body of the given content type (parameters like `; charset=utf-8` already stripped). */
export function applyPatch(contentType: string, target: unknown, patch: unknown): unknown {
  switch (contentType) {
    case "application/json-patch+json":
      return jsonPatch(target, patch);
    case "application/merge-patch+json":
      if (!isRecord(patch)) throw badRequest("json: cannot unmarshal non-object merge patch into the object");
      return mergePatch(target, patch);
    default:
      if (!isRecord(patch)) throw badRequest("json: cannot unmarshal non-object strategic merge patch into the object");
      return strategicMergePatch(target, patch);
  }
}
