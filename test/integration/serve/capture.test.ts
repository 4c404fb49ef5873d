import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { silentLogger } from "../../../src/log.js";
import type { PublicPhotoPrediction } from "../../../src/model/predictor.js";
import { FaceCapture, type CaptureDrop } from "../../../src/review/capture.js";
import { ReviewDecisions } from "../../../src/review/decisions.js";
import { decodeEmbedding, Inbox } from "../../../src/review/inbox.js";
import { ServeCapture } from "../../../src/serve/capture.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { systemClock } from "../../../src/util/clock.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { postImage, startService, type TestService } from "../../helpers/http.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { launchChromium, screenshotPath } from "../../helpers/browser.js";
import { servedBundle } from "../../helpers/served-bundle.js";
import { waitUntil } from "../../helpers/wait.js";
import { chromium, requires } from "../../helpers/tools.js";

/**
 * Faces kept for review (serve.capture) over real HTTP with a real model: a stranger's face lands
 * in the inbox as the crop the model saw with its answer and embedding, a known face does not, and
 * an inbox that cannot be written stops capture without failing a single prediction.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const stranger = readFileSync(lfwPhotos("Colin_Powell")[3] as string);
const known = readFileSync(lfwPhotos("Hugo_Chavez")[25] as string);

function capturing(root: string, events: { dropped?: CaptureDrop[]; stopped?: string[] } = {}) {
  const inbox = new Inbox(root, { maxItems: 50, maxAgeDays: 30 });
  const writer = new FaceCapture(inbox, {
    clock: systemClock,
    log: silentLogger(),
    events: { dropped: (reason) => events.dropped?.push(reason), stopped: (reason) => events.stopped?.push(reason) },
  });
  return { inbox, writer, serving: new ServeCapture(writer, { lowMargin: 0.1, keepPhoto: false }) };
}

describe("capture for review", () => {
  const folder = temporaryFolder();
  const kept = capturing(join(folder.path, "inbox"));
  const served = servedBundle(people, { capture: kept.serving });
  const ask = async (bytes: Buffer) => {
    const { status, body } = await postImage(`${served.service.url}/v1/predict`, bytes);
    assert.equal(status, 200, JSON.stringify(body));
    return (body.results as PublicPhotoPrediction[])[0] as PublicPhotoPrediction;
  };

  test("is loaded", async () => {
    served.service.slot.install(await loadPredictor(served.bundle, { config: served.trained.config, log: silentLogger(), workers: 1 }), "v1");
  });

  test("a stranger's face is kept with its answer, the model version, the nearest person and the crop the model saw", async () => {
    const answer = await ask(stranger);
    assert.equal(answer.label, "unknown");
    await kept.writer.drain();
    const faces = await kept.inbox.list();
    assert.equal(faces.length, 1);
    const [face] = faces as [(typeof faces)[number]];
    assert.deepEqual([face.reason, face.answer, face.modelVersion, face.hasPhoto], ["unknown", "unknown", "v1", false]);
    assert.equal(face.distance, answer.distance);
    assert.ok(face.nearest && people.includes(face.nearest.label), JSON.stringify(face.nearest));
    assert.equal(face.backbone, served.trained.metadata.backbone.fingerprint);
    assert.equal(decodeEmbedding(face.embedding).length, served.trained.metadata.backbone.featureLength);
    assert.deepEqual(face.box, answer.faces[0]?.box);
    const crop = await sharp(await kept.inbox.readCrop(face.id)).metadata();
    assert.deepEqual([crop.format, crop.width, crop.height], ["jpeg", served.trained.metadata.backbone.inputSize, served.trained.metadata.backbone.inputSize]);
  });

  test("a face named clearly is not kept", async () => {
    const answer = await ask(known);
    assert.equal(answer.label, "Hugo_Chavez");
    assert.ok((answer.topk[0]?.score ?? 0) - (answer.topk[1]?.score ?? 0) >= 0.1, "a clear lead: not a low_margin face");
    await kept.writer.drain();
    assert.equal((await kept.inbox.list()).length, 1);
  });
});

describe("review over HTTP", () => {
  const folder = temporaryFolder();
  const kept = capturing(join(folder.path, "inbox"));
  const decisions = new ReviewDecisions(join(folder.path, "inbox"));
  const token = "review-token-0123456789";
  const served = servedBundle(people, { capture: kept.serving, review: { inbox: kept.inbox, decisions, apiToken: token } });
  // A service without a token configured: no model needed to be refused.
  let unguarded: TestService | null = null;
  before(async () => {
    unguarded = await startService({ review: { inbox: kept.inbox, decisions, apiToken: "" } });
  });
  after(() => unguarded?.close());
  const call = async (path: string, init: RequestInit & { auth?: boolean } = {}) => {
    const headers: Record<string, string> = { ...(init.auth === false ? {} : { Authorization: `Bearer ${token}` }), ...(init.body ? { "Content-Type": "application/json" } : {}) };
    const response = await fetch(`${served.service.url}${path}`, { ...init, headers });
    const type = response.headers.get("content-type") ?? "";
    return { status: response.status, type, body: type.includes("json") ? ((await response.json()) as Record<string, unknown>) : Buffer.from(await response.arrayBuffer()) };
  };

  test("is loaded, and two photos of one stranger are kept", async () => {
    served.service.slot.install(await loadPredictor(served.bundle, { config: served.trained.config, log: silentLogger(), workers: 1 }), "v1");
    for (const index of [3, 4]) {
      const { status } = await postImage(`${served.service.url}/v1/predict`, readFileSync(lfwPhotos("Colin_Powell")[index] as string));
      assert.equal(status, 200);
    }
    await kept.writer.drain();
    assert.equal((await kept.inbox.list()).length, 2);
  });

  test("without the token: 401; without a token configured: 403 saying how to set one", async () => {
    const anonymous = await call("/v1/inbox", { auth: false });
    assert.equal(anonymous.status, 401);
    const wrong = await fetch(`${served.service.url}/v1/inbox`, { headers: { Authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const refused = await fetch(`${unguarded?.url ?? ""}/v1/inbox`);
    assert.equal(refused.status, 403);
    const body = (await refused.json()) as { error: { code: string; message: string } } & Record<string, unknown>;
    assert.match(JSON.stringify(body), /review needs the API token \(the inbox holds faces\): set FACEOPS_API_TOKEN or controller.apiTokenFile/);
  });

  test("the groups, a crop, a decision with the caller in the audit log, and 4xx for what cannot be done", async () => {
    const listed = await call("/v1/inbox");
    assert.equal(listed.status, 200);
    const groups = (listed.body as { groups: Array<{ id: string; faces: Array<{ id: string }> }> }).groups;
    assert.equal(groups.reduce((sum, group) => sum + group.faces.length, 0), 2);
    const crop = await call(`/v1/inbox/faces/${groups[0]?.faces[0]?.id ?? ""}/crop`);
    assert.equal(crop.status, 200);
    assert.equal(crop.type, "image/jpeg");
    assert.equal((await sharp(crop.body as Buffer).metadata()).format, "jpeg");
    assert.equal((await call("/v1/inbox/faces/../../etc/crop")).status, 404);
    assert.equal((await call("/v1/inbox/faces/f123/crop")).status, 400);

    const badPerson = await call("/v1/inbox/assign", { method: "POST", body: JSON.stringify({ ids: [groups[0]?.id], person: "_not" }) });
    assert.equal(badPerson.status, 400);
    assert.match(JSON.stringify(badPerson.body), /invalid_person/);
    const badBody = await call("/v1/inbox/assign", { method: "POST", body: JSON.stringify({ ids: "all", person: "Colin" }) });
    assert.equal(badBody.status, 400);
    assert.match(JSON.stringify(badBody.body), /invalid_ids/);

    const ids = groups.map((group) => group.id);
    const assigned = await call("/v1/inbox/assign", { method: "POST", body: JSON.stringify({ ids, person: "Colin Powell", reviewer: "Grace Hopper <grace@example.com>" }) });
    assert.equal(assigned.status, 202, JSON.stringify(assigned.body));
    const decision = (assigned.body as { decision: { state: string; faces: string[]; person: string } }).decision;
    assert.deepEqual([decision.state, decision.faces.length, decision.person], ["pending", 2, "Colin Powell"]);
    const again = await call("/v1/inbox/assign", { method: "POST", body: JSON.stringify({ ids, person: "Colin Powell" }) });
    assert.equal(again.status, 409);
    assert.deepEqual((await call("/v1/inbox")).body, { groups: [] });
    const audit = readFileSync(decisions.auditLog, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { action: string; by: string; faces: string[] });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.action, "assign");
    assert.match(audit[0]?.by ?? "", /127\.0\.0\.1/);
  });

  test("the page: with the token it shows the waiting faces and their crops, and a group named there is recorded", async (t) => {
    if (!requires(t, chromium)) return;
    const { status } = await postImage(`${served.service.url}/v1/predict`, readFileSync(lfwPhotos("Tony_Blair")[0] as string));
    assert.equal(status, 200);
    await kept.writer.drain();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
      await page.goto(served.service.url);
      await page.fill("#review-token", "not the token");
      await page.click("#review-login button");
      await page.waitForSelector("#review-status.failed");
      assert.match((await page.textContent("#review-status")) ?? "", /Cannot show the faces: the API token is not the service's/);

      await page.fill("#review-token", token);
      await page.fill("#review-reviewer", "Grace Hopper <grace@example.com>");
      await page.click("#review-login button");
      await page.waitForSelector(".group img[data-face]");
      // A photo may show a bystander too: one group per face not alike.
      const groups = await page.locator(".group").count();
      assert.ok(groups >= 1);
      // Every crop fetched with the token and shown (the page's own code, run in the page). Not
      // page.waitForFunction: it polls with the page's eval, which the page's CSP rightly forbids (the
      // test tsconfig has no DOM types, hence the shape given to the image).
      await waitUntil("every crop to be shown", () => page.$$eval(".group img", (images) => images.every((image) => (image as unknown as { naturalWidth: number }).naturalWidth > 0)), 15_000);
      await page.screenshot({ path: screenshotPath("review-page-inbox"), fullPage: true });
      await page.fill(".group >> nth=0 >> input", "Tony Blair");
      await page.click(".group >> nth=0 >> button[data-action='assign']");
      await page.waitForSelector("#review-status[data-decision]");
      assert.match((await page.textContent("#review-status")) ?? "", /^\d+ faces? recorded as Tony Blair: faceops commits them/);
      await waitUntil("the named group to leave the list", async () => (await page.locator(".group").count()) === groups - 1, 15_000);
      const decision = await decisions.read((await page.getAttribute("#review-status", "data-decision")) ?? "");
      assert.deepEqual([decision?.action, decision?.person, decision?.state, decision?.reviewer?.name], ["assign", "Tony Blair", "pending", "Grace Hopper"]);
    } finally {
      await browser.close();
    }
  });
});

describe("capture into an inbox that cannot be written", () => {
  const folder = temporaryFolder();
  const blocked = join(folder.path, "inbox");
  writeFileSync(blocked, "a file where the inbox's folder should be");
  const stopped: string[] = [];
  const dropped: CaptureDrop[] = [];
  const kept = capturing(blocked, { stopped, dropped });
  const served = servedBundle(people, { capture: kept.serving });

  test("predictions are answered as always; capture stops once, with the reason", async () => {
    served.service.slot.install(await loadPredictor(served.bundle, { config: served.trained.config, log: silentLogger(), workers: 1 }), "v1");
    for (let round = 0; round < 3; round++) {
      const { status, body } = await postImage(`${served.service.url}/v1/predict`, stranger);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal((body.results as PublicPhotoPrediction[])[0]?.label, "unknown");
      await kept.writer.drain();
    }
    assert.equal(stopped.length, 1);
    assert.match(stopped[0] ?? "", /cannot be written \(ENOTDIR\): face capture is off until the service restarts/);
    assert.deepEqual(dropped, ["failed"], "one face lost; the next ones are not even tried");
  });
});
