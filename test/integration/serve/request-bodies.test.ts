import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import express from "express";
import { Registry } from "prom-client";
import { createLogger, silentLogger } from "../../../src/log.js";
import { createServeMetrics } from "../../../src/metrics/serve-metrics.js";
import { createApp } from "../../../src/serve/app.js";
import { ModelSlot } from "../../../src/serve/model-slot.js";
import { createDecodeAdmission } from "../../../src/serve/predict.js";
import { listen } from "../../../src/http/server.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { startService, type TestService } from "../../helpers/http.js";
import { unterminatedMultipart } from "../../helpers/attack-bodies.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { abortMidBody, rawRequest } from "../../helpers/raw-http.js";
import { faceRepo, trainBundle, type TrainedBundle } from "../../helpers/training.js";
import { waitUntil } from "../../helpers/wait.js";

/**
 * Reading request bodies over real HTTP on 127.0.0.1, with a real model loaded: bodies that are
 * malformed, cut off, too deep, too large or too many at once are each refused with a 4xx or a
 * 503, a client that hangs up is neither an error nor a request left in flight, and the server
 * keeps answering throughout.
 */

const people = ["Hugo_Chavez", "Serena_Williams"];
const photo = readFileSync(lfwPhotos("Serena_Williams")[20] as string);
/** An infer request's "inputs" with the photo in base64, `count` times. */
const inputs = (count = 1) => JSON.stringify([{ name: "image", shape: [count], datatype: "BYTES", data: Array(count).fill(photo.toString("base64")) }]);

describe("request bodies", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 8);
  const bundle = join(folder.path, "bundle");
  let trained: TrainedBundle;
  /** Small limits: photos of 300 kB, 4 per request, 2 MB of bodies at once; everything it logs is kept. */
  let small: TestService;
  /** The configuration's default limits: photos of 10 MB, 16 per request. */
  let defaults: TestService;
  const logged: Array<{ level: number; msg: string }> = [];

  before(async () => {
    trained = await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
    const lines = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) logged.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    small = await startService({ maxBytes: 300_000, maxFiles: 4, maxBufferedBytes: 2_000_000, log: createLogger({ level: "debug", format: "json", destination: lines }) });
    defaults = await startService({ maxBytes: 10_000_000, maxFiles: 16, maxBufferedBytes: 512_000_000 });
    for (const service of [small, defaults]) service.slot.install(await loadPredictor(bundle, { config: trained.config, log: silentLogger() }), "v1");
  });
  after(async () => {
    await small?.close();
    await defaults?.close();
    repo.dispose();
    folder.dispose();
  });

  const healthy = async (service: TestService) => assert.equal((await fetch(`${service.url}/healthz`)).status, 200);
  const infer = (service: TestService, body: string | Uint8Array | ReadableStream) =>
    fetch(`${service.url}/v2/models/faces/infer`, { method: "POST", headers: { "Content-Type": "application/json" }, body, duplex: "half" });
  // /v1 errors are {error: {code, message}}; /v2 errors the protocol's {error: message, code}.
  const errorOf = async (response: Response) => {
    const body = (await response.json()) as { error: string | { code: string; message: string }; code?: string };
    return typeof body.error === "string" ? { status: response.status, code: body.code, message: body.error } : { status: response.status, ...body.error };
  };

  test("a multipart body without its closing boundary (finding 1) is 400 bad_multipart, and the server keeps serving", async () => {
    const answer = await rawRequest(small.url, unterminatedMultipart.head, unterminatedMultipart.body);
    assert.equal(answer.status, 400, answer.body);
    assert.match(answer.body, /"code":"bad_multipart".*Unexpected end of form/);
    await healthy(small);
  });

  test("every other way a multipart body can be cut off or malformed is a 4xx, and the server keeps serving", async () => {
    const part = (name: string, filename = "a.jpg") => `--XX\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: image/jpeg\r\n\r\n`;
    const cases: Array<[string, string, number, string]> = [
      ["cut off inside a part's headers", '--XX\r\nContent-Disposition: form-da', 400, "bad_multipart"],
      ["cut off inside a file of another field", `${part("note", "n.txt")}some text`, 400, "bad_multipart"],
      ["cut off after a whole photo, before the next part", `${part("image")}abc\r\n--XX\r\n`, 400, "bad_multipart"],
      ["a part header that never ends", `--XX\r\n${"X-Long: y\r\n".repeat(2000)}`, 400, "bad_multipart"],
      ["only the closing boundary", "--XX--\r\n", 400, "no_image"],
      ["more photos than allowed", `${part("image").repeat(1)}a\r\n${part("image")}b\r\n${part("image")}c\r\n${part("image")}d\r\n${part("image")}e\r\n--XX--\r\n`, 413, "too_many_files"],
      ["a photo over the limit", `${part("image")}${"a".repeat(300_001)}\r\n--XX--\r\n`, 413, "payload_too_large"],
    ];
    for (const [name, body, status, code] of cases) {
      const answer = await rawRequest(small.url, `POST /v1/predict HTTP/1.1\r\nHost: faceops\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${Buffer.byteLength(body)}`, body);
      assert.equal(answer.status, status, `${name}: ${answer.body}`);
      assert.match(answer.body, new RegExp(`"code":"${code}"`), name);
      await healthy(small);
    }
    const noBoundary = await fetch(`${small.url}/v1/predict`, { method: "POST", headers: { "Content-Type": "multipart/form-data" }, body: "--XX--\r\n" });
    assert.deepEqual([noBoundary.status, (await errorOf(noBoundary)).code], [400, "bad_multipart"]);
  });

  test("clients that hang up mid-upload: nothing left in flight, no error counted or logged, recorded as 499", async () => {
    const inFlight = async () => (await small.metrics.inFlight.get()).values[0]?.value ?? 0;
    const reading = async () => (await inFlight()) >= 1;
    const uploads: Array<[string, string, string]> = [
      ["raw photo", "/v1/predict", "Content-Type: image/jpeg\r\nContent-Length: 250000"],
      ["multipart", "/v1/predict", "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 250000"],
      ["v2 JSON", "/v2/models/faces/infer", "Content-Type: application/json\r\nContent-Length: 250000"],
      ["chunked raw photo", "/v1/predict", "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked"],
    ];
    const first = {
      "raw photo": "\xff\xd8\xff".padEnd(1000, "a"),
      multipart: `--XX\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n${"a".repeat(1000)}`,
      "v2 JSON": `{"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["${"A".repeat(1000)}`,
      "chunked raw photo": `3e8\r\n${"a".repeat(1000)}\r\n`,
    } as Record<string, string>;
    const recorded = async (route: string, status: RegExp) => {
      const { values } = await small.metrics.httpDuration.get();
      return values
        .filter((value) => value.metricName === "http_request_duration_seconds_count" && value.labels.route === route && status.test(String(value.labels.code)))
        .reduce((sum, value) => sum + value.value, 0);
    };
    const before = { v1: await recorded("/v1/predict", /^499$/), v2: await recorded("/v2/models/:name/infer", /^499$/) };
    for (const [name, path, headers] of uploads) {
      await abortMidBody(small.url, `POST ${path} HTTP/1.1\r\nHost: faceops\r\n${headers}`, first[name] as string, reading);
      await waitUntil(`${name}: the aborted request to leave the in-flight gauge`, async () => (await inFlight()) === 0, { timeoutMs: 2_000, everyMs: 20 });
    }
    assert.equal(await recorded("/v1/predict", /^499$/), before.v1 + 3);
    assert.equal(await recorded("/v2/models/:name/infer", /^499$/), before.v2 + 1);
    assert.equal((await recorded("/v1/predict", /^5/)) + (await recorded("/v2/models/:name/infer", /^5/)), 0, "no 5xx in the duration histogram");
    assert.doesNotMatch(await small.metrics.registry.metrics(), /faceops_http_request_errors_total\{code="5\d\d"/, "no server error counted");
    const loud = logged.filter((record) => record.level >= 40);
    assert.deepEqual(loud, [], "nothing logged at warn or above");
    assert.ok(logged.some((record) => record.level === 20 && /closed the connection/.test(record.msg)), "the abort is logged at debug level");
    await healthy(small);
  });

  test("a hang-up in a route read by Express' own body parser (the controller's, in faceops up) is a 499 too, not a 400", async () => {
    const metrics = createServeMetrics(new Registry());
    const router = express.Router();
    router.post("/v1/echo", express.raw({ type: () => true, limit: "1mb" }), (request, response) => {
      response.json({ bytes: (request.body as Buffer).length });
    });
    const app = createApp({ slot: new ModelSlot({ maxBatch: 1, maxDelayMs: 1 }, metrics, silentLogger()), metrics, log: silentLogger(), limits: { maxBytes: 1000, maxFiles: 1 }, decoding: createDecodeAdmission({ maxPixels: 1_000_000, decodeConcurrency: 1 }), serverVersion: "test", routers: [router] });
    const running = await listen(app, { name: "inference service", port: 0, host: "127.0.0.1", graceMs: 1_000, log: silentLogger() });
    try {
      const inFlight = async () => (await metrics.inFlight.get()).values[0]?.value ?? 0;
      await abortMidBody(running.url, "POST /v1/echo HTTP/1.1\r\nHost: faceops\r\nContent-Length: 100000", "x".repeat(1000), async () => (await inFlight()) >= 1);
      await waitUntil("the aborted request to leave the in-flight gauge", async () => (await inFlight()) === 0, { timeoutMs: 2_000, everyMs: 20 });
      const text = await metrics.registry.metrics();
      assert.doesNotMatch(text, /faceops_http_request_errors_total\{/, "the hang-up is not counted as an error");
      assert.match(text, /http_request_duration_seconds_count\{method="POST",route="\/v1\/echo",code="499"\} 1/);
    } finally {
      await running.shutdown("test over");
    }
  });

  test("20 MB of '[' to /v2 infer is 400 json_too_deep at once, and /healthz answers within 1 s meanwhile", async () => {
    const slowest = await whilePollingHealth(defaults, async () => {
      const response = await infer(defaults, Buffer.alloc(20_000_000, "["));
      const error = await errorOf(response);
      assert.deepEqual([error.status, error.code], [400, "json_too_deep"], error.message);
      assert.match(error.message, /deeper than 32 levels \(at byte 32\)/);
    });
    assert.ok(slowest < 1_000, `a /healthz answer took ${slowest} ms`);
  });

  test("a deeply nested id or parameters.topk is 400 json_too_deep, not a stack overflow's 500", async () => {
    // With a photo that is fine, so the nesting is the only thing wrong with the request.
    const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;
    for (const depth of [33, 100_000]) {
      for (const body of [`{"id": ${nested(depth)}, "inputs": ${inputs()}}`, `{"inputs": ${inputs()}, "parameters": {"topk": ${nested(depth)}}}`]) {
        const error = await errorOf(await infer(defaults, body));
        assert.deepEqual([error.status, error.code], [400, "json_too_deep"], `depth ${depth}: ${error.message}`);
      }
    }
    await healthy(defaults);
  });

  test("a /v2 body over what its photos can need as base64 is 413, from Content-Length or while it streams", async () => {
    // 4 photos of 300 kB: 4 x 400,000 bytes of base64 + 64 KiB = 1,665,536 bytes.
    const over = Buffer.alloc(1_700_000, " ");
    const declared = await errorOf(await infer(small, over));
    assert.deepEqual([declared.status, declared.code], [413, "payload_too_large"], declared.message);
    assert.match(declared.message, /1665536 bytes/);
    const streamed = await errorOf(await infer(small, new Blob([over]).stream()));
    assert.deepEqual([streamed.status, streamed.code], [413, "payload_too_large"], streamed.message);
    const longString = await errorOf(await infer(small, `{"id": "${"A".repeat(500_000)}"}`));
    assert.deepEqual([longString.status, longString.code], [413, "payload_too_large"], longString.message);
    assert.match(longString.message, /string longer than/);
    const manyValues = await errorOf(await infer(small, `[${"0,".repeat(40_000)}0]`));
    assert.deepEqual([manyValues.status, manyValues.code], [413, "payload_too_large"], manyValues.message);
    await healthy(small);
  });

  test("a multipart body over its photos plus 64 KiB is 413, even when no single file is", async () => {
    const fields = Array.from({ length: 18 }, (_, index) => `--XX\r\nContent-Disposition: form-data; name="f${index}"\r\n\r\n${"n".repeat(100_000)}\r\n`).join("");
    const response = await fetch(`${small.url}/v1/predict`, { method: "POST", headers: { "Content-Type": "multipart/form-data; boundary=XX" }, body: `${fields}--XX--\r\n` });
    const error = await errorOf(response);
    assert.deepEqual([error.status, error.code], [413, "payload_too_large"], error.message);
    assert.match(error.message, /multipart body is larger than the limit of 1265536 bytes/);
  });

  test("bodies beyond serve.maxBufferedBytes across requests: 503 with Retry-After, served again once the budget is free", async () => {
    // Hold 1.5 MB of the 2 MB budget with a request still uploading, then ask for 1 MB more.
    const holder = await openUpload(small.url, "/v2/models/faces/infer", "application/json", 1_500_000);
    const megabyte = `{"inputs": [{"name": "image", "shape": [3], "datatype": "BYTES", "data": ["${"A".repeat(350_000)}", "${"A".repeat(350_000)}", "${"A".repeat(300_000)}"]}]}`;
    const busy = await infer(small, megabyte);
    const error = await errorOf(busy);
    assert.deepEqual([error.status, error.code], [503, "server_busy"], error.message);
    assert.equal(busy.headers.get("retry-after"), "1");
    assert.match(error.message, /2000000 bytes \(serve\.maxBufferedBytes\)/);
    holder.destroy();
    await waitUntil("the held request to leave the in-flight gauge", async () => ((await small.metrics.inFlight.get()).values[0]?.value ?? 0) === 0, { timeoutMs: 2_000, everyMs: 20 });
    const served = await errorOf(await infer(small, megabyte));
    assert.equal(served.status, 400, `with the budget free again the same body is read, and its photos are found not to be photos: ${served.message}`);
  });

  test("a request larger than the whole budget is 413 naming serve.maxBufferedBytes, not a 503 to retry forever", async () => {
    const limited = await startService({ maxBytes: 300_000, maxFiles: 4, maxBufferedBytes: 1_000_000 });
    try {
      const error = await errorOf(await fetch(`${limited.url}/v1/predict`, { method: "POST", headers: { "Content-Type": "multipart/form-data; boundary=XX" }, body: Buffer.alloc(1_100_000) }));
      assert.deepEqual([error.status, error.code], [413, "payload_too_large"], error.message);
      assert.match(error.message, /serve\.maxBufferedBytes/);
    } finally {
      await limited.close();
    }
  });

  test("legal requests still work: a photo raw, in multipart and as /v2 base64", async () => {
    const raw = await fetch(`${small.url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: photo });
    assert.equal(raw.status, 200, await raw.clone().text());
    const form = new FormData();
    form.append("image", new Blob([photo], { type: "image/jpeg" }), "a.jpg");
    form.append("image", new Blob([photo], { type: "image/jpeg" }), "b.jpg");
    const multipart = (await (await fetch(`${small.url}/v1/predict`, { method: "POST", body: form })).json()) as { results: Array<{ label: string }> };
    assert.deepEqual(multipart.results.map((result) => result.label), ["Serena_Williams", "Serena_Williams"]);
    const v2 = await infer(small, `{"id": "r-1", "inputs": ${inputs(2)}}`);
    const answer = (await v2.json()) as { id: string; outputs: Array<{ name: string; data: unknown[] }> };
    assert.equal(v2.status, 200, JSON.stringify(answer));
    assert.equal(answer.id, "r-1");
    assert.deepEqual(answer.outputs.find((output) => output.name === "labels")?.data, ["Serena_Williams", "Serena_Williams"]);
  });
});

/** Runs `work` while /healthz is asked every 100 ms; the slowest answer, in ms (a failed one counts as forever). */
async function whilePollingHealth(service: TestService, work: () => Promise<void>): Promise<number> {
  let slowest = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      const started = performance.now();
      const ok = await fetch(`${service.url}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
        (response) => response.status === 200,
        () => false,
      );
      slowest = Math.max(slowest, ok ? performance.now() - started : Number.POSITIVE_INFINITY);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await poll;
  }
  return slowest;
}

/** A request whose headers promise `length` bytes, of which it sends one and then waits; destroy() hangs up. */
async function openUpload(url: string, path: string, type: string, length: number): Promise<{ destroy(): void }> {
  const outgoing = request(`${url}${path}`, { method: "POST", headers: { "Content-Type": type, "Content-Length": length } });
  outgoing.on("error", () => undefined);
  outgoing.write(" ");
  await new Promise((resolve) => setTimeout(resolve, 100));
  return { destroy: () => outgoing.destroy() };
}
