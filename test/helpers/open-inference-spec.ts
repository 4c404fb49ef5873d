import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { OpenAPIBackend, type Document } from "openapi-backend";
import { parse } from "yaml";

/**
 * The Open Inference Protocol's REST spec as vendored in test/spec/open-inference-protocol, loaded
 * into an OpenAPI validator (openapi-backend, Ajv underneath) that checks a response's status,
 * content type and JSON body against the operation it answers.
 *
 * The YAML alone cannot be used as it stands, for three reasons, each settled here in code so the
 * vendored file stays byte for byte the published one:
 * 1. Its path keys are written `/v2/models/${MODEL_NAME}/...`: the `$` is literal text, so no
 *    validator can match a real URL to them, and it lists only the versioned forms while
 *    inference_rest.md marks `[/versions/<model_version>]` optional. So the caller names the
 *    operation each request is for (see `operations`), and unversioned paths use the versioned
 *    operation.
 * 2. It declares only some statuses. inference_rest.md says of server metadata, model metadata
 *    and infer alike: "A failed ... request must be indicated by an HTTP error status (typically
 *    400). The HTTP body must contain the $..._error_response object." So every 4xx and 5xx of
 *    those operations is checked against that error object.
 * 3. It declares the health and ready answers without a body, while inference_rest.md gives them
 *    one: $live_server_response {live}, $ready_server_response and $ready_model_response
 *    {name, ready}. They are added as schemas. $ready_server_response is written `{"live": $bool}`
 *    in the prose, an evident slip: the gRPC twin in inference_grpc.md is ServerReadyResponse
 *    `bool ready = 1`, and KServe answers `{"ready": ...}`; `ready` is checked. Not ready is
 *    answered 503 with the same object: the prose says these APIs "can be used directly to
 *    implement the Kubernetes readinessProbe", and a probe fails only on a status of 400 or more.
 *    A model ready request that fails for another reason (an unknown model) answers the error
 *    object every other model endpoint uses.
 * Anything else, a status the completed document does not declare, a body that is not JSON where
 * JSON is declared, or a body the schema refuses, is a mismatch.
 */

export const specFolder = resolve(import.meta.dirname, "../spec/open-inference-protocol");

/** The vendored YAML's operationIds, by what each operation is. */
export const operations = {
  serverMetadata: "get-v2",
  serverLive: "get-v2-health-live",
  serverReady: "get-v2-health-ready",
  modelMetadata: "get-v2-models-$-modelName-versions-$-modelVersion",
  modelReady: "get-v2-models-$-modelName-versions-$-modelVersion-ready",
  infer: "post-v2-models-$-MODEL_NAME-versions-$-MODEL_VERSION-infer",
} as const;

export type OperationName = keyof typeof operations;

export interface Answer {
  status: number;
  contentType: string | null;
  /** The parsed JSON body; undefined when the body was not JSON. */
  body: unknown;
  text: string;
}

interface ResponseObject {
  description: string;
  content?: Record<string, { schema: unknown }>;
}
interface OperationObject {
  operationId: string;
  responses: Record<string, ResponseObject>;
}
interface SpecDocument {
  paths: Record<string, Record<string, OperationObject>>;
  components: { schemas: Record<string, unknown> };
}

const json = (schema: string, description: string): ResponseObject => ({
  description,
  content: { "application/json": { schema: { $ref: `#/components/schemas/${schema}` } } },
});

/** The vendored YAML, parsed, unchanged. */
export function vendoredSpec(): SpecDocument {
  return parse(readFileSync(resolve(specFolder, "open_inference_rest.yaml"), "utf8")) as SpecDocument;
}

/** A copy of the YAML with the statuses and bodies inference_rest.md prescribes and the YAML leaves out (see the header). */
export function completedFromProse(spec: SpecDocument): SpecDocument {
  const document = structuredClone(spec);
  const schemas = document.components.schemas;
  const boolean = { type: "boolean" };
  schemas.live_server_response = { type: "object", properties: { live: boolean }, required: ["live"] };
  schemas.ready_server_response = { type: "object", properties: { ready: boolean }, required: ["ready"] };
  schemas.ready_model_response = { type: "object", properties: { name: { type: "string" }, ready: boolean }, required: ["name", "ready"] };

  const byId = new Map<string, OperationObject>();
  for (const path of Object.values(document.paths)) for (const operation of Object.values(path)) if (operation?.operationId) byId.set(operation.operationId, operation);
  const operation = (name: OperationName): OperationObject => {
    const found = byId.get(operations[name]);
    if (!found) throw new Error(`the vendored spec has no operation ${operations[name]} (${name})`);
    return found;
  };
  const failures = (name: OperationName, schema: string) => {
    Object.assign(operation(name).responses, { "4XX": json(schema, "a failed request (inference_rest.md)"), "5XX": json(schema, "a failed request (inference_rest.md)") });
  };
  failures("serverMetadata", "metadata_server_error_response");
  failures("modelMetadata", "metadata_model_error_response");
  failures("infer", "inference_error_response");
  Object.assign(operation("serverLive").responses, { "200": json("live_server_response", "live") });
  Object.assign(operation("serverReady").responses, { "200": json("ready_server_response", "ready"), "503": json("ready_server_response", "not ready") });
  Object.assign(operation("modelReady").responses, {
    "200": json("ready_model_response", "ready"),
    "503": json("ready_model_response", "not ready"),
    "4XX": json("metadata_model_error_response", "a failed request"),
  });
  return document;
}

export class OpenInferenceSpec {
  private constructor(
    private readonly backend: OpenAPIBackend,
    private readonly document: SpecDocument,
  ) {}

  static async load(): Promise<OpenInferenceSpec> {
    const document = completedFromProse(vendoredSpec());
    // strict: a document that is not valid OpenAPI 3 fails here instead of validating nothing.
    const backend = new OpenAPIBackend({ definition: structuredClone(document) as unknown as Document, strict: true, validate: true });
    await backend.init();
    return new OpenInferenceSpec(backend, document);
  }

  /** Every way `answer` departs from the spec's response for `operation`; empty when it conforms. */
  mismatches(name: OperationName, answer: Answer): string[] {
    const operationId = operations[name];
    const responses = this.responses(operationId);
    const key = [String(answer.status), `${Math.floor(answer.status / 100)}XX`, "default"].find((candidate) => responses[candidate] !== undefined);
    if (key === undefined) return [`status ${answer.status} is not a response of ${operationId}, which declares ${Object.keys(responses).join(", ")}`];
    const content = responses[key]?.content?.["application/json"];
    if (!content) return [];
    if (!answer.contentType?.toLowerCase().startsWith("application/json")) return [`content type ${String(answer.contentType)}, not application/json`];
    if (answer.body === undefined) return [`the body is not JSON: ${answer.text.slice(0, 200)}`];
    const result = this.backend.validateResponse(answer.body, operationId, answer.status);
    return (result.errors ?? []).map((error) => `${error.instancePath || "(body)"} ${error.message ?? error.keyword} (${error.schemaPath})`);
  }

  private responses(operationId: string): Record<string, ResponseObject> {
    for (const path of Object.values(this.document.paths)) for (const operation of Object.values(path)) if (operation?.operationId === operationId) return operation.responses;
    throw new Error(`the spec has no operation ${operationId}`);
  }
}

/**
 * The operation a request to the service is for, by inference_rest.md's table of paths (the
 * version segment optional). A /v2 path the protocol does not have is checked against the server
 * metadata operation, whose error object is the one such a 404 must carry.
 */
export function operationFor(method: string, path: string): OperationName {
  const pathname = new URL(path, "http://service").pathname;
  const model = "/v2/models/[^/]+(?:/versions/[^/]+)?";
  if (method === "GET" && /^\/v2\/?$/.test(pathname)) return "serverMetadata";
  if (method === "GET" && pathname === "/v2/health/live") return "serverLive";
  if (method === "GET" && pathname === "/v2/health/ready") return "serverReady";
  if (method === "GET" && new RegExp(`^${model}$`).test(pathname)) return "modelMetadata";
  if (method === "GET" && new RegExp(`^${model}/ready$`).test(pathname)) return "modelReady";
  if (method === "POST" && new RegExp(`^${model}/infer$`).test(pathname)) return "infer";
  return "serverMetadata";
}

/** Reads a fetch response as the validator needs it. */
export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined;
  }
  return { status: response.status, contentType: response.headers.get("content-type"), body, text };
}
