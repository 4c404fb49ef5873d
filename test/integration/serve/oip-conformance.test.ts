import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, test, type TestContext } from "node:test";
import { silentLogger } from "../../../src/log.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { servedBundle } from "../../helpers/served-bundle.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { answerOf, OpenInferenceSpec, operationFor, type OperationName } from "../../helpers/open-inference-spec.js";

/**
 * Every /v2 route of the inference service, success and error, before and after a model is
 * loaded, over real HTTP, each answer validated against the Open Inference Protocol's vendored
 * REST spec (test/spec/open-inference-protocol) with an OpenAPI validator. A response the spec does
 * not allow fails the test, naming the request and the schema's complaint.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const photo = (person: string, index = 25) => readFileSync(lfwPhotos(person)[index] as string).toString("base64");

interface Case {
  label: string;
  operation: OperationName;
  method?: "GET" | "POST";
  path: string;
  /** A JSON value to send, or raw text when it is a string. */
  body?: unknown;
  contentType?: string;
  status: number;
}

const image = (data: unknown, shape: unknown = Array.isArray(data) ? [data.length] : [1], datatype = "BYTES") => ({ name: "image", shape, datatype, data });

describe("Open Inference Protocol v2 conformance", () => {
  const served = servedBundle(people);
  const { bundle } = served;
  let spec: OpenInferenceSpec;
  let validated = 0;

  before(async () => {
    spec = await OpenInferenceSpec.load();
  });

  /** Sends every case, validates every answer; fails naming each mismatch and each unexpected status. */
  async function conform(t: TestContext, cases: Case[]): Promise<void> {
    const mismatches: string[] = [];
    const statuses: string[] = [];
    for (const entry of cases) {
      const raw = typeof entry.body === "string" ? entry.body : entry.body === undefined ? undefined : JSON.stringify(entry.body);
      const headers = raw === undefined ? undefined : { "Content-Type": entry.contentType ?? "application/json" };
      const answer = await answerOf(await fetch(`${served.service.url}${entry.path}`, { method: entry.method ?? "GET", headers, body: raw }));
      validated++;
      const where = `${entry.label}: ${entry.method ?? "GET"} ${entry.path} -> ${answer.status}`;
      // The other OIP tests find the operation from the path; it must be the one this table names.
      assert.equal(operationFor(entry.method ?? "GET", entry.path), entry.operation, `${where}: operationFor`);
      for (const problem of spec.mismatches(entry.operation, answer)) mismatches.push(`${where}: ${problem}`);
      if (answer.status !== entry.status) statuses.push(`${where}, expected ${entry.status}: ${answer.text.slice(0, 300)}`);
    }
    t.diagnostic(`${cases.length} responses validated, ${mismatches.length} mismatches`);
    assert.deepEqual(mismatches, [], `responses that do not match the spec:\n${mismatches.join("\n")}`);
    assert.deepEqual(statuses, [], `unexpected statuses:\n${statuses.join("\n")}`);
  }

  const infer = (label: string, body: unknown, status = 400, path = "/v2/models/faces/infer", contentType?: string): Case => ({
    label,
    operation: "infer",
    method: "POST",
    path,
    body,
    status,
    ...(contentType ? { contentType } : {}),
  });

  test("without a model: health, metadata, ready and infer answer as the spec says", async (t) => {
    const one = { inputs: [image([photo("Hugo_Chavez")])] };
    await conform(t, [
      { label: "server metadata", operation: "serverMetadata", path: "/v2", status: 200 },
      { label: "server metadata, trailing slash", operation: "serverMetadata", path: "/v2/", status: 200 },
      { label: "server live", operation: "serverLive", path: "/v2/health/live", status: 200 },
      { label: "server not ready", operation: "serverReady", path: "/v2/health/ready", status: 503 },
      { label: "model metadata", operation: "modelMetadata", path: "/v2/models/faces", status: 503 },
      { label: "model metadata of a version", operation: "modelMetadata", path: "/v2/models/faces/versions/v1", status: 503 },
      { label: "model not ready", operation: "modelReady", path: "/v2/models/faces/ready", status: 503 },
      { label: "model version not ready", operation: "modelReady", path: "/v2/models/faces/versions/v1/ready", status: 503 },
      infer("infer", one, 503),
      infer("infer on a version", one, 503, "/v2/models/faces/versions/v1/infer"),
      infer("infer with a body that is not JSON", "{not json", 503),
      { label: "a /v2 path the protocol does not have", operation: "serverMetadata", path: "/v2/nothing", status: 404 },
    ]);
  });

  test("with a model: every route, its successes and its errors, answers as the spec says", async (t) => {
    served.service.slot.install(await loadPredictor(bundle, { config: served.trained.config, log: silentLogger() }), "v1");
    const two = [photo("Junichiro_Koizumi"), photo("Serena_Williams")];
    await conform(t, [
      { label: "server metadata", operation: "serverMetadata", path: "/v2", status: 200 },
      { label: "server metadata, trailing slash", operation: "serverMetadata", path: "/v2/", status: 200 },
      { label: "server live", operation: "serverLive", path: "/v2/health/live", status: 200 },
      { label: "server ready", operation: "serverReady", path: "/v2/health/ready", status: 200 },
      { label: "model metadata", operation: "modelMetadata", path: "/v2/models/faces", status: 200 },
      { label: "model metadata of the version", operation: "modelMetadata", path: "/v2/models/faces/versions/v1", status: 200 },
      { label: "unknown model's metadata", operation: "modelMetadata", path: "/v2/models/nobody", status: 404 },
      { label: "unknown version's metadata", operation: "modelMetadata", path: "/v2/models/faces/versions/v9", status: 404 },
      { label: "model ready", operation: "modelReady", path: "/v2/models/faces/ready", status: 200 },
      { label: "model version ready", operation: "modelReady", path: "/v2/models/faces/versions/v1/ready", status: 200 },
      { label: "unknown model's readiness", operation: "modelReady", path: "/v2/models/nobody/ready", status: 404 },
      { label: "unknown version's readiness", operation: "modelReady", path: "/v2/models/faces/versions/v9/ready", status: 404 },
      infer("infer, flat data, with an id", { id: "r-1", inputs: [image(two)] }, 200),
      infer("infer on the version", { inputs: [image(two)] }, 200, "/v2/models/faces/versions/v1/infer"),
      infer("infer, nested data", { inputs: [image(two.map((item) => [item]), [2, 1])] }, 200),
      infer("infer, one output selected", { inputs: [image(two)], outputs: [{ name: "labels" }] }, 200),
      infer("infer, both outputs selected in the other order", { inputs: [image(two)], outputs: [{ name: "labels" }, { name: "scores" }] }, 200),
      infer("infer, classification asked of the scores output", { inputs: [image(two)], outputs: [{ name: "scores", parameters: { classification: 2 } }] }, 200),
      infer("infer, spec-shaped request parameters", { inputs: [image(two)], parameters: { note: "x", flag: true, level: 2 } }, 200),
      infer("infer, unknown model", { inputs: [image(two)] }, 404, "/v2/models/nobody/infer"),
      infer("infer, unknown version", { inputs: [image(two)] }, 404, "/v2/models/faces/versions/v9/infer"),
      infer("infer, body not JSON", "{not json"),
      infer("infer, body a JSON array", [1, 2]),
      infer("infer, no inputs", {}),
      infer("infer, empty inputs", { inputs: [] }),
      infer("infer, numeric id", { id: 42, inputs: [image(two)] }),
      infer("infer, object id", { id: { deep: [1] }, inputs: [image(two)] }),
      infer("infer, shape disagrees with the data", { inputs: [image(two, [3])] }),
      infer("infer, shape not integers", { inputs: [image(two, ["2"])] }),
      infer("infer, nested data disagrees with the shape", { inputs: [image([[two[0]], two[1]], [2, 1])] }),
      infer("infer, wrong datatype", { inputs: [image([1], [1], "FP32")] }),
      infer("infer, no input named image", { inputs: [{ name: "photo", shape: [1], datatype: "BYTES", data: [two[0]] }] }),
      infer("infer, an input the model does not have", { inputs: [image(two), { name: "extra", shape: [1], datatype: "BYTES", data: ["aGk="] }] }),
      infer("infer, not base64", { inputs: [image(["***"])] }),
      infer("infer, base64 of something that is not a photo", { inputs: [image([Buffer.from("hello, I am text").toString("base64")])] }),
      infer("infer, unknown output", { inputs: [image(two)], outputs: [{ name: "embeddings" }] }),
      infer("infer, an output asked twice", { inputs: [image(two)], outputs: [{ name: "labels" }, { name: "labels" }] }),
      infer("infer, outputs not an array", { inputs: [image(two)], outputs: { name: "labels" } }),
      infer("infer, unknown output parameter", { inputs: [image(two)], outputs: [{ name: "labels", parameters: { binary_data: true } }] }),
      infer("infer, classification not a positive integer", { inputs: [image(two)], outputs: [{ name: "scores", parameters: { classification: 0 } }] }),
      infer("infer, a request parameter that is an array", { inputs: [image(two)], parameters: { topk: [1] } }),
      infer("infer, a request parameter that is null", { inputs: [image(two)], parameters: { topk: null } }),
      infer("infer, more photos than allowed", { inputs: [image([two[0], two[0], two[0], two[0], two[0]])] }, 413),
      infer("infer, not JSON", "hello", 415, undefined, "text/plain"),
      { label: "a /v2 path the protocol does not have", operation: "serverMetadata", path: "/v2/nothing", status: 404 },
      { label: "infer with GET", operation: "serverMetadata", path: "/v2/models/faces/infer", status: 404 },
    ]);
  });

  test("the count of validated responses", (t) => {
    t.diagnostic(`${validated} responses validated against the Open Inference Protocol's REST spec`);
    assert.ok(validated >= 50, `only ${validated} responses were validated`);
  });
});
