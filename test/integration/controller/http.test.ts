import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { controllerRouter } from "../../../src/controller/http.js";
import { writeRun, type RunRecord } from "../../../src/records/runs.js";
import { listRunRequests, requestIdPattern, type RunRequestRecord } from "../../../src/records/requests.js";
import { verifyWebhook } from "../../../src/controller/webhook.js";
import { SourceError, UnknownRevisionError } from "../../../src/dataset/source.js";
import { silentLogger } from "../../../src/log.js";
import { createServeMetrics } from "../../../src/metrics/serve-metrics.js";
import { createApp } from "../../../src/serve/app.js";
import { createDecodeAdmission } from "../../../src/serve/predict.js";
import { ModelSlot } from "../../../src/serve/model-slot.js";
import { listen, type RunningServer } from "../../../src/http/server.js";
import { RecordStore } from "../../../src/records/record-store.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

const secret = "s3cret-for-webhooks";
const token = "t0ken-for-jenkins";
const sign = (body: string, key = secret) => `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
const mainTip = "c".repeat(40);

/** The repository as the API sees it: main and one commit exist; "unreachable" stands for a remote that is down. */
function resolveCommit(revision: string): Promise<string> {
  if (revision === "main") return Promise.resolve(mainTip);
  if (revision === "a".repeat(40) || revision === "b".repeat(40)) return Promise.resolve(revision);
  if (revision === "unreachable") return Promise.reject(new SourceError("cannot fetch https://git.example/faces.git: Connection refused"));
  return Promise.reject(new UnknownRevisionError(`https://git.example/faces.git has no commit "${revision}"`));
}

describe("verifyWebhook", () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  test("GitHub and Gitea: X-Hub-Signature-256 over the raw body", () => {
    assert.deepEqual(verifyWebhook({ "x-hub-signature-256": sign(body.toString()) }, body, secret), { ok: true, sender: "github" });
    assert.deepEqual(verifyWebhook({ "x-hub-signature-256": sign(body.toString()), "x-gitea-event": "push" }, body, secret), { ok: true, sender: "gitea" });
    assert.equal(verifyWebhook({ "x-hub-signature-256": sign(body.toString(), "other") }, body, secret).ok, false);
    assert.equal(verifyWebhook({ "x-hub-signature-256": sign(`${body.toString()} `) }, body, secret).ok, false, "a body changed by one byte");
    assert.match((verifyWebhook({ "x-hub-signature-256": "md5=abc" }, body, secret) as { reason: string }).reason, /not of the form sha256=/);
  });
  test("Gitea's own header and GitLab's token", () => {
    const hex = createHmac("sha256", secret).update(body).digest("hex");
    assert.deepEqual(verifyWebhook({ "x-gitea-signature": hex }, body, secret), { ok: true, sender: "gitea" });
    assert.deepEqual(verifyWebhook({ "x-gitlab-token": secret }, body, secret), { ok: true, sender: "gitlab" });
    assert.equal(verifyWebhook({ "x-gitlab-token": `${secret}x` }, body, secret).ok, false);
  });
  test("no header, or no secret configured, is refused", () => {
    assert.match((verifyWebhook({}, body, secret) as { reason: string }).reason, /carries no/);
    assert.match((verifyWebhook({ "x-gitlab-token": "" }, body, "") as { reason: string }).reason, /no webhook secret is configured/);
  });
});

describe("controller HTTP API", () => {
  const folder = temporaryFolder("faceops-controller-http-");
  const store = new StoreLayout(folder.path);
  const kicks: string[] = [];
  let running: RunningServer;
  let url = "";
  let unsecured: RunningServer;
  let unsecuredUrl = "";

  const serverWith = async (apiToken: string, webhookSecret: string) => {
    const log = silentLogger();
    const metrics = createServeMetrics(new Registry(), { defaultMetrics: false });
    const slot = new ModelSlot({ maxBatch: 1, maxDelayMs: 0 }, metrics, log);
    const router = controllerRouter({ store: new RecordStore(store), branch: "main", apiToken, webhookSecret, kick: (trigger) => kicks.push(trigger), watching: () => ({ commit: "abc" }), resolveCommit, log });
    const app = createApp({ slot, metrics, log, limits: { maxBytes: 1_000_000, maxFiles: 1 }, decoding: createDecodeAdmission({ maxPixels: 1_000_000, decodeConcurrency: 1 }), serverVersion: "test", routers: [router] });
    return listen(app, { name: "inference service", port: 0, host: "127.0.0.1", graceMs: 1000, log });
  };

  before(async () => {
    running = await serverWith(token, secret);
    url = running.url;
    unsecured = await serverWith("", "");
    unsecuredUrl = unsecured.url;
    const run: RunRecord = {
      schemaVersion: 1,
      id: "7",
      fingerprint: "f".repeat(64),
      commit: "c".repeat(40),
      source: "/faces",
      trigger: "poll",
      createdAt: "2026-11-28T10:00:00.000Z",
      updatedAt: "2026-11-28T10:01:00.000Z",
      state: "failed",
      reason: "all 4 attempts were spent",
      dataset: { photos: 10, train: 8, test: 2, labels: 2, rejected: [{ path: "a/b.jpg", reason: "corrupt", message: "truncated" }] },
      attempts: [],
      promotion: null,
    };
    await writeRun(store, run);
  });

  after(async () => {
    await running.shutdown("test over");
    await unsecured.shutdown("test over");
    folder.dispose();
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}, base = url) =>
    fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body });
  const auth = { Authorization: `Bearer ${token}` };
  const get = (path: string, headers: Record<string, string> = auth, base = url) => fetch(`${base}${path}`, { headers });
  const errorCode = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;

  test("GET /v1/runs lists summaries newest first with what is watched; GET /v1/runs/{id} has the whole record", async () => {
    const list = (await (await get("/v1/runs")).json()) as { watching: unknown; runs: Array<{ id: string; dataset: { rejected: number } }> };
    assert.deepEqual(list.watching, { commit: "abc" });
    assert.deepEqual(list.runs.map((run) => [run.id, run.dataset.rejected]), [["7", 1]]);
    const one = (await (await get("/v1/runs/7")).json()) as RunRecord;
    assert.equal(one.reason, "all 4 attempts were spent");
  });

  test("with a token configured, every read needs it (people's names, paths, who asked): 401 without, same check as POST", async () => {
    for (const path of ["/v1/runs", "/v1/runs/7", "/v1/requests/20261128T120000000Z-0a1b2c3d"]) {
      const anonymous = await get(path, {});
      assert.equal(anonymous.status, 401, path);
      assert.equal(await errorCode(anonymous), "unauthorized", path);
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /Bearer/, path);
      assert.equal((await get(path, { Authorization: "Bearer t0ken-for-jenkinX" })).status, 401, path);
      assert.equal((await get(path, { Authorization: `Basic ${token}` })).status, 401, path);
    }
  });

  test("without a configured token the reads stay open (a local faceops up, on 127.0.0.1)", async () => {
    assert.equal((await get("/v1/runs", {}, unsecuredUrl)).status, 200);
    assert.equal((await get("/v1/runs/7", {}, unsecuredUrl)).status, 200);
  });

  test("bad run ids, request ids and limits are 4xx JSON errors", async () => {
    const notFound = await get("/v1/runs/99");
    assert.equal(notFound.status, 404);
    assert.equal(await errorCode(notFound), "run_not_found");
    const invalid = await get("/v1/runs/..%2F..%2Fetc");
    assert.equal(invalid.status, 400);
    assert.equal((await get("/v1/runs?limit=0")).status, 400);
    assert.equal((await get("/v1/runs?limit=abc")).status, 400);
    assert.equal(await errorCode(await get("/v1/requests/..%2Frun-requests")), "invalid_request_id");
    assert.equal(await errorCode(await get("/v1/requests/20261128T120000000Z-ffffffff")), "request_not_found");
  });

  test("POST /v1/runs needs the bearer token; a good request is queued with its commit resolved, answers its id, and wakes the loop", async () => {
    const missing = await post("/v1/runs", "{}");
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get("www-authenticate") ?? "", /Bearer/);
    assert.equal((await post("/v1/runs", "{}", { Authorization: "Bearer wrong" })).status, 401);
    assert.equal(existsSync(store.runRequests), false);
    const accepted = await post("/v1/runs", JSON.stringify({ commit: "main", force: true }), auth);
    assert.equal(accepted.status, 202);
    const { request } = (await accepted.json()) as { accepted: true; request: RunRequestRecord };
    assert.match(request.id, requestIdPattern);
    assert.equal(accepted.headers.get("location"), `/v1/requests/${request.id}`);
    assert.deepEqual([request.commit, request.sha, request.force, request.state], ["main", mainTip, true, "pending"]);
    assert.deepEqual(await listRunRequests(store), [request]);
    assert.deepEqual(await (await get(`/v1/requests/${request.id}`)).json(), request);
    assert.ok(kicks.includes("api"));
  });

  test("a commit that does not exist is a 422 naming it, and nothing is queued; an unreadable repository is a 503", async () => {
    const before = (await listRunRequests(store)).length;
    const unknown = await post("/v1/runs", JSON.stringify({ commit: "doesnotexist" }), auth);
    assert.equal(unknown.status, 422);
    const body = (await unknown.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "unknown_commit");
    assert.match(body.error.message, /no commit "doesnotexist"/);
    const down = await post("/v1/runs", JSON.stringify({ commit: "unreachable" }), auth);
    assert.equal(down.status, 503);
    assert.equal(await errorCode(down), "source_unavailable");
    assert.equal((await listRunRequests(store)).length, before);
  });

  test("two requests 50 ms apart are two queued records, oldest first, listed in GET /v1/runs", async () => {
    const ids: string[] = [];
    for (const commit of ["a".repeat(40), "b".repeat(40)]) {
      const answer = await post("/v1/runs", JSON.stringify({ commit }), auth);
      assert.equal(answer.status, 202);
      ids.push(((await answer.json()) as { request: RunRequestRecord }).request.id);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const queued = await listRunRequests(store);
    assert.deepEqual(queued.slice(-2).map((record) => [record.id, record.sha]), [
      [ids[0], "a".repeat(40)],
      [ids[1], "b".repeat(40)],
    ]);
    const listed = (await (await get("/v1/runs")).json()) as { requests: RunRequestRecord[] };
    assert.deepEqual(listed.requests.slice(0, 2).map((record) => record.id), [ids[1], ids[0]], "newest first");
  });

  test("POST /v1/runs validates its body", async () => {
    const auth = { Authorization: `Bearer ${token}` };
    for (const [body, code] of [
      ["[1]", "invalid_body"],
      ['{"commit": "--upload-pack=evil"}', "invalid_commit"],
      ['{"commit": 12}', "invalid_commit"],
      ['{"force": "yes"}', "invalid_force"],
      ['{"branch": "x"}', "invalid_body"],
      ["{not json", "entity.parse.failed"],
    ] as const) {
      const response = await post("/v1/runs", body, auth);
      assert.equal(response.status, 400, body);
      assert.equal(await errorCode(response), code, body);
    }
  });

  test("without a configured token or secret, both POST endpoints refuse with 403", async () => {
    const run = await post("/v1/runs", "{}", { Authorization: "Bearer anything" }, unsecuredUrl);
    assert.equal(run.status, 403);
    assert.equal(await errorCode(run), "api_token_not_configured");
    const hook = await post("/v1/webhook", "{}", { "X-Hub-Signature-256": sign("{}") }, unsecuredUrl);
    assert.equal(hook.status, 403);
  });

  test("POST /v1/webhook: signed pushes to the watched branch wake the loop; others are answered and ignored", async () => {
    kicks.length = 0;
    const push = (body: string, event = "push", signature = sign(body)) => post("/v1/webhook", body, { "X-GitHub-Event": event, "X-Hub-Signature-256": signature });
    const main = JSON.stringify({ ref: "refs/heads/main", after: "a".repeat(40) });
    const accepted = await push(main);
    assert.equal(accepted.status, 202);
    assert.deepEqual(await accepted.json(), { accepted: true, event: "push", commit: "a".repeat(40) });
    assert.deepEqual(kicks, ["webhook"]);
    const otherBranch = await push(JSON.stringify({ ref: "refs/heads/dev" }));
    assert.equal(((await otherBranch.json()) as { accepted: boolean }).accepted, false);
    assert.equal((await push("{}", "ping")).status, 200);
    assert.equal(((await (await push("{}", "issues")).json()) as { accepted: boolean }).accepted, false);
    assert.equal((await push("not json")).status, 400);
    const forged = await push(main, "push", sign(main, "guess"));
    assert.equal(forged.status, 401);
    assert.equal(await errorCode(forged), "invalid_signature");
    assert.deepEqual(kicks, ["webhook"], "only the one good push woke the loop");
  });
});
