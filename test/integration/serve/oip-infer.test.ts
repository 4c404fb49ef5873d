import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { Worker } from "node:worker_threads";
import { before, describe, test } from "node:test";
import { silentLogger } from "../../../src/log.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { postImage } from "../../helpers/http.js";
import { servedBundle } from "../../helpers/served-bundle.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { answerOf, OpenInferenceSpec, operationFor, type Answer } from "../../helpers/open-inference-spec.js";

/**
 * What the Open Inference Protocol's answers say, beyond their shape (oip-conformance.test.ts checks
 * that): outputs chosen by the request, ids, nested tensor data, the model's metadata and
 * readiness, errors in the protocol's format and counted, and infer requests for a model not in
 * service refused before their body is read. Every /v2 answer received here is also validated
 * against the protocol's spec, as in oip-conformance.test.ts.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const photo = (person: string, index = 25) => readFileSync(lfwPhotos(person)[index] as string).toString("base64");
const two = () => [photo("Junichiro_Koizumi"), photo("Serena_Williams")];
const image = (data: unknown[], shape: number[] = [data.length]) => ({ name: "image", shape, datatype: "BYTES", data });

interface Tensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}
interface InferAnswer {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: Tensor[];
}

describe("Open Inference Protocol v2: what the answers say", () => {
  const served = servedBundle(people);
  const { bundle } = served;
  let spec: OpenInferenceSpec;

  before(async () => {
    spec = await OpenInferenceSpec.load();
  });

  const conforming = (method: string, path: string, answer: Answer): Answer => {
    assert.deepEqual(spec.mismatches(operationFor(method, path), answer), [], `${method} ${path} -> ${answer.status} does not match the spec`);
    return answer;
  };
  /** A /v2 request, its answer validated against the spec. */
  const v2 = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${served.service.url}${path}`, init);
    return { ...conforming(init.method ?? "GET", path, await answerOf(response)), headers: response.headers };
  };
  const infer = async (body: unknown, path = "/v2/models/faces/infer") => {
    const answer = await v2(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    return { status: answer.status, body: answer.body as InferAnswer & { error?: string; code?: string } };
  };
  /** An infer request sent in part (see sendPartly), its answer validated against the spec. */
  const partly = async (path: string, declared: number, sent: number) => {
    const raw = await sendPartly(served.service.url, path, declared, sent);
    conforming("POST", path, await answerOf(new Response(raw.body, { status: raw.status, headers: raw.contentType ? { "Content-Type": raw.contentType } : {} })));
    return raw;
  };
  const installModel = async () => served.service.slot.install(await loadPredictor(bundle, { config: served.trained.config, log: silentLogger() }), "v1");

  test("before a model is loaded: model ready answers {name, ready: false} with 503, and infer is refused before its body is read", async () => {
    const ready = await v2("/v2/models/faces/ready");
    assert.equal(ready.status, 503);
    assert.equal(ready.headers.get("retry-after"), "5");
    assert.deepEqual(ready.body, { name: "faces", ready: false });
    assert.deepEqual((await v2("/v2/models/faces/versions/v1/ready")).body, { name: "faces", ready: false });

    const refused = await partly("/v2/models/faces/infer", 211_000_000, 65_536);
    assert.equal(refused.status, 503, refused.text);
    assert.deepEqual(JSON.parse(refused.body), { error: "no model is loaded yet", code: "model_not_ready" });
    assert.equal(refused.headers.connection, "close");
    assert.ok(refused.closedByServer, "the server closed the connection instead of reading the rest of the body");
  });

  test("model ready and metadata once the model is loaded: properties are text, platform is <project>_<format>", async () => {
    await installModel();
    const ready = await v2("/v2/models/faces/ready");
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { name: "faces", ready: true });

    const metadata = (await v2("/v2/models/faces")).body as Record<string, unknown> & { properties: Record<string, unknown> };
    assert.equal(metadata.platform, "faceops_bundle");
    assert.match(String(metadata.platform), /^[a-z0-9]+_[a-z0-9]+$/, "the spec's <project>_<format>");
    assert.equal(metadata.parameters, undefined, "the metadata response has no parameters field in the spec; facts go in properties");
    for (const [key, value] of Object.entries(metadata.properties)) assert.equal(typeof value, "string", `properties.${key} is ${JSON.stringify(value)}`);
    assert.deepEqual(JSON.parse(String(metadata.properties.labels)), people);
    assert.equal(metadata.properties.dataset_commit, served.trained.metadata.dataset.commit);
    assert.equal(Number(metadata.properties.test_accuracy), served.trained.metadata.metrics.accuracy);
    assert.equal(metadata.properties.backbone, "face-embedding");
    assert.deepEqual(metadata.inputs, [{ name: "image", datatype: "BYTES", shape: [-1] }]);
    assert.deepEqual(metadata.outputs, [
      { name: "scores", datatype: "FP32", shape: [-1, 3] },
      { name: "labels", datatype: "BYTES", shape: [-1] },
      { name: "faces_found", datatype: "INT32", shape: [-1] },
      { name: "boxes", datatype: "FP32", shape: [-1, 4] },
      { name: "face_photo", datatype: "INT32", shape: [-1] },
      { name: "face_labels", datatype: "BYTES", shape: [-1] },
      { name: "face_scores", datatype: "FP32", shape: [-1, 3] },
      { name: "confident", datatype: "BOOL", shape: [-1] },
      { name: "face_confident", datatype: "BOOL", shape: [-1] },
    ]);
  });

  test("outputs selects the outputs returned, in the order asked; none or an empty list returns all", async () => {
    const inputs = [image(two())];
    const names = async (body: unknown) => {
      const { status, body: answer } = await infer(body);
      assert.equal(status, 200, JSON.stringify(answer));
      return answer.outputs.map((output) => output.name);
    };
    const all = ["scores", "labels", "faces_found", "boxes", "face_photo", "face_labels", "face_scores", "confident", "face_confident"];
    assert.deepEqual(await names({ inputs }), all);
    assert.deepEqual(await names({ inputs, outputs: [] }), all);
    assert.deepEqual(await names({ inputs, outputs: [{ name: "labels" }] }), ["labels"]);
    assert.deepEqual(await names({ inputs, outputs: [{ name: "scores" }] }), ["scores"]);
    assert.deepEqual(await names({ inputs, outputs: [{ name: "labels" }, { name: "scores", parameters: {} }] }), ["labels", "scores"]);

    const unknown = await infer({ inputs, outputs: [{ name: "labels" }, { name: "embeddings" }] });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.code, "bad_request");
    assert.match(unknown.body.error ?? "", /^outputs\[1\]\.name: the model has no output named "embeddings"/);
  });

  test("classification on the scores output answers each photo's k best labels as <score>:<index>:<label>", async () => {
    const { status, body } = await infer({ inputs: [image(two())], outputs: [{ name: "scores", parameters: { classification: 2 } }, { name: "labels" }] });
    assert.equal(status, 200, JSON.stringify(body));
    const [scores, labels] = body.outputs as [Tensor, Tensor];
    assert.deepEqual([scores.datatype, scores.shape], ["BYTES", [2, 2]]);
    const rows = (scores.data as string[]).map((entry) => entry.split(":"));
    for (const [row, [score, index, label]] of rows.entries()) {
      assert.equal(label, people[Number(index)], `row ${row}: the index and the label agree`);
      assert.ok(Number(score) > 0 && Number(score) <= 1);
    }
    assert.ok(Number(rows[0]?.[0]) >= Number(rows[1]?.[0]), "best first");
    assert.deepEqual([rows[0]?.[2], rows[2]?.[2]], labels.data, "each photo's best class is its label");
    const clamped = await infer({ inputs: [image(two())], outputs: [{ name: "scores", parameters: { classification: 50 } }] });
    assert.deepEqual(clamped.body.outputs[0]?.shape, [2, 3], "k is at most the number of labels");
  });

  test("id: a string is echoed, anything else is a 400 naming the field", async () => {
    const echoed = await infer({ id: "r-42", inputs: [image(two())] });
    assert.equal(echoed.body.id, "r-42");
    assert.equal((await infer({ inputs: [image(two())] })).body.id, undefined);
    for (const id of [42, { deep: [1] }, null, ["r"]]) {
      const { status, body } = await infer({ id, inputs: [image(two())] });
      assert.equal(status, 400, JSON.stringify(id));
      assert.match(body.error ?? "", /^id: expected a string, received /);
    }
  });

  test("tensor data nested as the shape, or flat, gives the same answer; shape and element count must agree", async () => {
    const data = two();
    const flat = await infer({ inputs: [image(data)] });
    const nested = await infer({ inputs: [image(data.map((item) => [item]), [2, 1])] });
    const flatAsMatrix = await infer({ inputs: [image(data, [2, 1])] });
    assert.equal(nested.status, 200, JSON.stringify(nested.body));
    assert.deepEqual(nested.body.outputs, flat.body.outputs);
    assert.deepEqual(flatAsMatrix.body.outputs, flat.body.outputs);

    const cases: Array<[unknown, RegExp]> = [
      [image(data, [3]), /^inputs\[0\]\.shape: \[3\] holds 3 elements, but inputs\[0\]\.data has 2$/],
      [image([[data[0]], data[1]], [2, 1]), /^inputs\[0\]\.data\[1\]: expected an array of 1 elements, as dimension 1 of the shape \[2,1\] says; received a string$/],
      [image([[data[0], data[1]]], [2, 1]), /^inputs\[0\]\.data: expected an array of 2 elements, as dimension 0/],
      [image(data, [1, 5]), /^inputs\[0\]: at most 4 photos per request/],
    ];
    for (const [input, message] of cases) {
      const { status, body } = await infer({ inputs: [input] });
      assert.ok(status === 400 || status === 413, `${JSON.stringify((input as { shape: unknown }).shape)}: ${status}`);
      assert.match(body.error ?? "", message);
    }
  });

  test("/v2 errors are {error, code} and /v1 errors stay {error: {code, message}}, all counted", async () => {
    const errorsCounted = async (status: string, code: string) => {
      const text = await (await fetch(`${served.service.url}/metrics`)).text();
      const line = text.split("\n").find((entry) => entry.startsWith("faceops_http_request_errors_total{") && entry.includes(`"${status}"`) && entry.includes(`"${code}"`));
      return Number(line?.split(" ").pop() ?? 0);
    };
    const before404 = await errorsCounted("404", "model_not_found");
    const beforeRoute = await errorsCounted("404", "not_found");

    const unknown = await v2("/v2/models/nobody");
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: 'no model named "nobody"; this server serves "faces"', code: "model_not_found" });
    const route = await v2("/v2/no/such/route");
    assert.deepEqual(route.body, { error: "no route GET /v2/no/such/route", code: "not_found" });
    const v1 = await fetch(`${served.service.url}/v1/no/such/route`);
    assert.deepEqual(await v1.json(), { error: { code: "not_found", message: "no route GET /v1/no/such/route" } });
    const v1Bad = await postImage(`${served.service.url}/v1/predict`, Buffer.from("hello"));
    assert.deepEqual(Object.keys(v1Bad.body.error as object).sort(), ["code", "message"]);

    assert.equal(await errorsCounted("404", "model_not_found"), before404 + 1);
    assert.equal(await errorsCounted("404", "not_found"), beforeRoute + 2, "the /v2 and the /v1 unknown route");
  });

  test("an infer request for a model or version not in service is refused before its body is read, and the connection closed", async () => {
    for (const path of ["/v2/models/nobody/infer", "/v2/models/faces/versions/v9/infer"]) {
      // 211 MB declared, 64 KiB sent: the old code waited for (and buffered) the whole body.
      const refused = await partly(path, 211_000_000, 65_536);
      assert.equal(refused.status, 404, `${path}: ${refused.text}`);
      assert.equal(refused.headers.connection, "close", path);
      assert.ok(refused.closedByServer, `${path}: the server closed the connection instead of reading the rest`);
    }
    // A body cut at the size limit is not drained either.
    const tooLarge = await partly("/v2/models/faces/infer", 10_000_000, 2_000_000);
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.equal((JSON.parse(tooLarge.body) as { code: string }).code, "payload_too_large");
    assert.ok(tooLarge.closedByServer, "the server closed the connection instead of draining the rest");
    // And the server still answers.
    assert.equal((await infer({ inputs: [image(two())] })).status, 200);
  });

  test("a client still sending a large body when it is refused reads the answer, not a reset", async () => {
    // 32 MB of JSON that the server refuses from its path: it answers long before the client has sent
    // it all. Closing at once left the rest unread, and the kernel's reset beat the 404 to the client
    // (fetch failed with EPIPE in 17 of 20 tries before the server lingered). The client runs in a
    // thread of its own, as a real client's process does, so both sides run at once.
    const outcomes = await fetchInThread(served.service.url, "/v2/models/nobody/infer", 32_000_000, 10);
    assert.deepEqual(outcomes, Array.from({ length: 10 }, () => "404"));
  });
});

/**
 * POSTs `count` infer requests of `bytes` bytes of JSON with fetch from a worker thread, one after
 * another; each outcome is the status, or the error fetch reported.
 */
async function fetchInThread(url: string, path: string, bytes: number, count: number): Promise<string[]> {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require("node:worker_threads");
    const body = Buffer.concat([Buffer.from('{"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["'), Buffer.alloc(workerData.bytes, "A"), Buffer.from('"]}]}')]);
    (async () => {
      const outcomes = [];
      for (let attempt = 0; attempt < workerData.count; attempt++) {
        outcomes.push(await fetch(workerData.url + workerData.path, { method: "POST", headers: { "Content-Type": "application/json" }, body }).then(
          async (response) => (await response.arrayBuffer(), String(response.status)),
          (error) => error.message + ": " + (error.cause && error.cause.code),
        ));
      }
      parentPort.postMessage(outcomes);
    })();
    `,
    { eval: true, workerData: { url, path, bytes, count } },
  );
  try {
    return await new Promise<string[]>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  } finally {
    await worker.terminate();
  }
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  contentType: string | null;
  body: string;
  text: string;
  closedByServer: boolean;
}

/**
 * Sends an infer request's headers declaring `declared` bytes of JSON body, then only `sent` bytes
 * of it, and never the rest: an answer can only come from a server that decides without the
 * body. Resolves with the answer and whether the server closed the connection afterwards; rejects
 * when no answer comes within 10 s (a generous bound for a local answer that needs no body; the
 * server's own request timeout is 60 s).
 */
function sendPartly(url: string, path: string, declared: number, sent: number): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    let answer: Omit<RawAnswer, "closedByServer"> | null = null;
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer) resolve({ ...answer, closedByServer });
      else reject(new Error(`no answer to POST ${path} within 10 s of sending ${sent} of ${declared} bytes${closedByServer ? " (the server closed the connection)" : ""}`));
    };
    let timer = setTimeout(() => finish(false), 10_000);
    socket.on("error", () => finish(false));
    socket.on("end", () => finish(true));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (answer || end < 0) return;
      const [statusLine = "", ...lines] = received.subarray(0, end).toString("latin1").split("\r\n");
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      const length = Number(headers["content-length"] ?? Number.NaN);
      if (received.length < end + 4 + length) return;
      const body = received.subarray(end + 4, end + 4 + length).toString("utf8");
      answer = { status: Number(statusLine.split(" ")[1]), headers, body, text: `${statusLine} ${body}`, contentType: headers["content-type"] ?? null };
      // Then the server should close; one that keeps the connection to drain the body runs out this time.
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), 5_000);
    });
    socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(Buffer.concat([Buffer.from('{"inputs": ['), Buffer.alloc(Math.max(0, sent - 12), " ")]));
  });
}
