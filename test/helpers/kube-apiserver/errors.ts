/**
 * metav1.Status error bodies as kube-apiserver writes them (k8s.io/apimachinery/pkg/api/errors):
 * `{kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, details, code}`.
 */

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  /** Omitted in the Success Status of a delete. */
  code?: number;
}

/** A failed request: thrown anywhere in request handling, written out as a Status body. */
export class ApiError extends Error {
  readonly warnings: string[] = [];
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): StatusBody {
    const body: StatusBody = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: this.message, reason: this.reason, code: this.code };
    if (this.details) body.details = this.details;
    return body;
  }
}

/** Drops empty strings the way Go's `omitempty` does. */
function details(name: string, group: string, kind: string): StatusDetails {
  const out: StatusDetails = {};
  if (name) out.name = name;
  if (group) out.group = group;
  if (kind) out.kind = kind;
  return out;
}

/** "jobs.batch" or "pods": the qualified resource name used in NotFound/AlreadyExists/Conflict messages. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

export function notFound(group: string, resource: string, name: string): ApiError {
  // Yes, details.kind is the resource here: the real server does the same.
  return new ApiError(404, "NotFound", `${qualifiedResource(group, resource)} "${name}" not found`, details(name, group, resource));
}

export function alreadyExists(group: string, resource: string, name: string): ApiError {
  return new ApiError(409, "AlreadyExists", `${qualifiedResource(group, resource)} "${name}" already exists`, details(name, group, resource));
}

export function conflict(group: string, resource: string, name: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(name, group, resource),
  );
}

/** One field error, formatted like k8s.io/apimachinery/pkg/util/validation/field.Error. */
export interface FieldError {
  field: string;
  type: "Required" | "Invalid" | "NotSupported" | "Duplicate" | "Forbidden";
  value?: unknown;
  detail?: string;
}

const causeReason: Record<FieldError["type"], string> = {
  Required: "FieldValueRequired",
  Invalid: "FieldValueInvalid",
  NotSupported: "FieldValueNotSupported",
  Duplicate: "FieldValueDuplicate",
  Forbidden: "FieldValueForbidden",
};

function goValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return `${value}`;
  return JSON.stringify(value) ?? "null";
}

export function fieldErrorMessage(error: FieldError): string {
  const detail = error.detail ? `: ${error.detail}` : "";
  switch (error.type) {
    case "Required":
      return `Required value${detail}`;
    case "Forbidden":
      return `Forbidden${detail}`;
    case "Duplicate":
      return `Duplicate value: ${goValue(error.value)}`;
    case "NotSupported":
      return `Unsupported value: ${goValue(error.value)}${detail}`;
    default:
      return `Invalid value: ${goValue(error.value)}${detail}`;
  }
}

/** 422 Invalid: `Job.batch "x" is invalid: spec.template.spec.containers[0].image: Required value`. */
export function invalid(group: string, kind: string, name: string, errors: FieldError[]): ApiError {
  const causes = errors.map((error) => ({ reason: causeReason[error.type], message: fieldErrorMessage(error), field: error.field }));
  const texts = causes.map((cause) => `${cause.field}: ${cause.message}`);
  const summary = texts.length === 1 ? texts[0] : `[${texts.join(", ")}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new ApiError(422, "Invalid", `${qualifiedKind} "${name}" is invalid: ${summary}`, { ...details(name, group, kind), causes });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

export function methodNotAllowed(): ApiError {
  return new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {});
}

export function resourceNotFound(): ApiError {
  return new ApiError(404, "NotFound", "the server could not find the requested resource", {});
}

export function unauthorized(): ApiError {
  return new ApiError(401, "Unauthorized", "Unauthorized");
}

export function unsupportedMediaType(accepted: string[]): ApiError {
  return new ApiError(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`, {});
}

/** The Status of a watch ERROR event for a resourceVersion older than the retained history. */
export function expired(requested: number, oldest: number): ApiError {
  return new ApiError(410, "Expired", `too old resource version: ${requested} (${oldest})`);
}
