import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { RunRecord } from "../../src/records/runs.js";
import { launchChromium } from "../helpers/browser.js";
import { FaceopsUp, getJson, quickUpArguments } from "../helpers/faceops-up.js";
import { TestRepo, temporaryFolder } from "../helpers/git-repo.js";
import { chromium, requires } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

/**
 * The loop closed, as a team runs it: `faceops up` with face capture on serves a model of three
 * people; someone it does not know is photographed (photos the test sends); the faces wait in the
 * inbox, grouped; a reviewer names them on the page, in a real browser; faceops commits them to the
 * face repository with their provenance, trains, gates and serves the next model, which names the
 * newcomer on a photo it never saw.
 */

const examples = resolve(import.meta.dirname, "../../examples");
const apiToken = "e2e-review-token";
const newcomer = "Vladimir_Putin";

interface Inbox {
  groups: Array<{ id: string; faces: Array<{ id: string; answer: string; modelVersion: string }>; nearest: { label: string; distance: number } | null }>;
}

describe("the review loop, end to end", { timeout: 900_000 }, () => {
  const repo = new TestRepo("faceops-e2e-review-faces-");
  const store = temporaryFolder("faceops-e2e-review-store-");
  let up: FaceopsUp | null = null;
  const server = () => {
    if (!up) throw new Error("faceops up is not running");
    return up;
  };
  const authorised = { headers: { Authorization: `Bearer ${apiToken}` } };
  const servedModel = async () => {
    const answer = await getJson<{ version: string; labels: string[] }>(`${server().url}/v1/model`);
    return answer.status === 200 ? answer.body : null;
  };
  const predict = async (path: string) => {
    const response = await fetch(`${server().url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(path) });
    assert.equal(response.status, 200);
    return ((await response.json()) as { results: Array<{ label: string }> }).results[0]?.label;
  };
  const inbox = async () => (await getJson<Inbox>(`${server().url}/v1/inbox`, authorised)).body;

  before(async () => {
    for (const person of readdirSync(join(examples, "faces"))) {
      for (const name of readdirSync(join(examples, "faces", person))) repo.copy(join(examples, "faces", person, name), `${person}/${name}`);
    }
    repo.commit("Three people");
    up = await FaceopsUp.start(quickUpArguments(store.path, repo.path, ["--set", "serve.capture.enabled=true"]), { env: { FACEOPS_API_TOKEN: apiToken } });
  });

  after(async () => {
    await up?.stop();
    repo.dispose();
    store.dispose();
  });

  test("a newcomer's faces are kept, named on the page, committed, trained on, and the next model names them", async (t) => {
    if (!requires(t, chromium)) return;
    await waitFor("v1 in service", async () => ((await servedModel())?.version === "v1" ? true : undefined), 150_000);
    const photos = readdirSync(join(examples, "newcomer", newcomer)).sort().slice(0, 8).map((name) => join(examples, "newcomer", newcomer, name));
    const answers = [];
    for (const photo of photos) answers.push(await predict(photo));
    assert.ok(answers.every((label) => label === "unknown" || label !== newcomer), `v1 does not know ${newcomer}: ${answers.join(", ")}`);

    const kept = await waitFor("the faces in the inbox", async () => {
      const listed = await inbox();
      return listed.groups.reduce((sum, group) => sum + group.faces.length, 0) >= 5 ? listed : undefined;
    }, 30_000);
    const sizes = kept.groups.map((group) => group.faces.length);
    assert.ok((sizes[0] ?? 0) >= 5, `one visitor, mostly one group: ${sizes.join(", ")}`);
    assert.ok(kept.groups.every((group) => group.faces.every((face) => face.modelVersion === "v1")));

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
      await page.goto(server().url);
      await page.fill("#review-token", apiToken);
      await page.fill("#review-reviewer", "Grace Hopper <grace@example.com>");
      await page.click("#review-login button");
      await page.waitForSelector(".group");
      // The page as a console: the model in service, and the runs with their gate's reasons.
      assert.match((await page.textContent("#model")) ?? "", /^Model faces v1: 3 people, test accuracy \d+\.\d% on 60 photos at commit [0-9a-f]{8}, trained \d{4}-\d\d-\d\d \d\d:\d\d$/);
      await page.waitForSelector("#runs tr[data-run='1']");
      assert.match((await page.textContent("#runs tr[data-run='1']")) ?? "", /run 1passedv1#1 finished: test accuracy .* nothing is deployed yet/);
      await page.screenshot({ path: join(store.path, "inbox.png") });
      // Every group is the newcomer (only their photos were sent): name each on the page.
      for (let left = await page.locator(".group").count(); left > 0; left = await page.locator(".group").count()) {
        await page.fill(".group >> nth=0 >> input", newcomer);
        const before = await page.getAttribute("#review-status", "data-decision");
        await page.click(".group >> nth=0 >> button[data-action='assign']");
        await waitFor("the decision recorded", async () => ((await page.getAttribute("#review-status", "data-decision")) !== before ? true : undefined), 15_000);
        await waitFor("the named group to leave the list", async () => ((await page.locator(".group").count()) < left ? true : undefined), 15_000);
      }
    } finally {
      await browser.close();
    }

    // The commit: the crops under the newcomer's folder, the reviewer as author, the provenance.
    const committed = await waitFor("the reviewed faces committed", () => {
      const subject = repo.git("log", "-1", "--format=%s").trim();
      return subject.includes(`of ${newcomer}, reviewed`) ? repo.git("log", "-1", "--format=%H%n%an <%ae>%n%B").trim() : undefined;
    }, 60_000);
    assert.match(committed, /\nGrace Hopper <grace@example\.com>\n/);
    assert.match(committed, /captured \S+ by model v1, answered "/);
    assert.match(committed, /Faceops-Review: r\S+$/);
    const files = repo.git("ls-tree", "-r", "--name-only", "HEAD", "--", `${newcomer}/`).trim().split("\n").filter(Boolean);
    assert.ok(files.length >= 5, files.join(", "));

    // The next model is trained on them, passes the gate, is served, and names the newcomer on a new photo.
    const served = await waitFor("a model that knows the newcomer", async () => {
      const model = await servedModel();
      return model && model.labels.includes(newcomer) ? model : undefined;
    }, 300_000);
    assert.notEqual(served.version, "v1");
    const runs = (await getJson<{ runs: Array<{ id: string; state: string }> }>(`${server().url}/v1/runs`, authorised)).body.runs;
    const latest = (await getJson<RunRecord>(`${server().url}/v1/runs/${runs[0]?.id ?? ""}`, authorised)).body;
    assert.equal(latest.state, "passed", latest.reason ?? "");
    assert.equal(await predict(join(examples, "try", `${newcomer}_0031.jpg`)), newcomer);
    assert.deepEqual((await inbox()).groups, [], "the committed faces left the inbox");
  });
});
