import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { RunRecord } from "../../src/records/runs.js";
import { launchChromium, screenshotPath } from "../helpers/browser.js";
import { FaceopsUp, getJson, quickUpArguments } from "../helpers/faceops-up.js";
import { startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";
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
      await page.screenshot({ path: screenshotPath("review-loop-console"), fullPage: true });
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
    // Each group named is its own decision and commit, so more than one run may follow; the one that made this version passed.
    await waitFor(`the run that made ${served.version} to pass`, async () => {
      const runs = (await getJson<{ runs: Array<{ state: string; version: string | null }> }>(`${server().url}/v1/runs`, authorised)).body.runs;
      return runs.some((entry) => entry.version === served.version && entry.state === "passed") ? true : undefined;
    }, 60_000);
    assert.equal(await predict(join(examples, "try", `${newcomer}_0031.jpg`)), newcomer);
    assert.deepEqual((await inbox()).groups, [], "the committed faces left the inbox");
  });
});

describe("the review loop with a remote repository", { timeout: 900_000 }, () => {
  const origin = new TestRepo("faceops-e2e-review-origin-");
  const serverRoot = temporaryFolder("faceops-e2e-review-server-");
  const store = temporaryFolder("faceops-e2e-review-remote-store-");
  const bare = join(serverRoot.path, "faces.git");
  const gitOnServer = (...args: string[]) => execFileSync("git", ["--git-dir", bare, ...args], { encoding: "utf8" }).trim();
  let git: GitHttpServer | null = null;
  let up: FaceopsUp | null = null;
  const url = () => {
    if (!up) throw new Error("faceops up is not running");
    return up.url;
  };
  const authorised = { headers: { Authorization: `Bearer ${apiToken}` } };
  const servedModel = async () => {
    const answer = await getJson<{ version: string; labels: string[] }>(`${url()}/v1/model`);
    return answer.status === 200 ? answer.body : null;
  };

  before(async () => {
    for (const person of readdirSync(join(examples, "faces"))) {
      for (const name of readdirSync(join(examples, "faces", person))) origin.copy(join(examples, "faces", person, name), `${person}/${name}`);
    }
    origin.commit("Three people");
    execFileSync("git", ["clone", "--quiet", "--bare", origin.path, bare]);
    git = await startGitHttpServer(serverRoot.path, { username: "faceops-bot", password: "review-push-secret" });
    up = await FaceopsUp.start(quickUpArguments(store.path, `${git.url}/faces.git`, ["--set", "serve.capture.enabled=true", "--set", "source.username=faceops-bot"]), {
      env: { FACEOPS_API_TOKEN: apiToken, FACEOPS_GIT_PASSWORD: "review-push-secret" },
    });
  });

  after(async () => {
    await up?.stop();
    await git?.close();
    origin.dispose();
    serverRoot.dispose();
    store.dispose();
  });

  test("the named faces are pushed as a branch, main is left alone, and once merged the next model names them", async () => {
    await waitFor("v1 in service", async () => ((await servedModel())?.version === "v1" ? true : undefined), 150_000);
    const main = gitOnServer("rev-parse", "refs/heads/main");
    for (const name of readdirSync(join(examples, "newcomer", newcomer)).sort().slice(0, 8)) {
      const response = await fetch(`${url()}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(join(examples, "newcomer", newcomer, name)) });
      assert.equal(response.status, 200);
    }
    // Capture writes after answering: wait until the inbox stops growing, so the groups named are the whole of them.
    let previous = -1;
    const kept = await waitFor("the faces in the inbox, settled", async () => {
      const listed = (await getJson<Inbox>(`${url()}/v1/inbox`, authorised)).body;
      const count = listed.groups.reduce((sum, group) => sum + group.faces.length, 0);
      const settled = count >= 5 && count === previous;
      previous = count;
      return settled ? listed : undefined;
    }, { timeoutMs: 30_000, everyMs: 1_000 });
    const assigned = await fetch(`${url()}/v1/inbox/assign`, {
      method: "POST",
      headers: { ...authorised.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ ids: kept.groups.map((group) => group.id), person: newcomer, reviewer: "Grace Hopper <grace@example.com>" }),
    });
    assert.equal(assigned.status, 202, await assigned.text());

    const branch = await waitFor("the review branch pushed", () => {
      try {
        return gitOnServer("rev-parse", "--verify", "--quiet", "refs/heads/faceops/review-1") || undefined;
      } catch {
        return undefined;
      }
    }, 60_000);
    assert.equal(gitOnServer("rev-parse", "refs/heads/main"), main, "main is the team's to merge into");
    assert.equal(gitOnServer("rev-parse", `${branch}^`), main);
    assert.match(gitOnServer("log", "-1", "--format=%an|%s", branch), new RegExp(`^Grace Hopper\\|faceops: \\d+ faces of ${newcomer}, reviewed$`));

    // The team merges the branch (a fast-forward here): the controller trains on it.
    gitOnServer("update-ref", "refs/heads/main", branch, main);
    // The run on the merged commit ends: passed and served, or failed, and then the gate's reasons are the test's message.
    const outcome = await waitFor("a model that knows the newcomer, or a failed run", async () => {
      const model = await servedModel();
      if (model && model.labels.includes(newcomer)) return { served: model, failure: null };
      const runs = (await getJson<{ runs: Array<{ id: string; state: string }> }>(`${url()}/v1/runs`, authorised)).body.runs;
      const failed = runs.find((run) => run.state === "failed");
      if (!failed) return undefined;
      const record = (await getJson<RunRecord>(`${url()}/v1/runs/${failed.id}`, authorised)).body;
      return { served: null, failure: `run ${failed.id} failed: ${record.attempts.map((attempt) => attempt.gate?.reason ?? attempt.error ?? attempt.state).join(" | ")}` };
    }, 300_000);
    assert.equal(outcome.failure, null);
    const served = outcome.served as { version: string };
    assert.notEqual(served.version, "v1");
    const response = await fetch(`${url()}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(join(examples, "try", `${newcomer}_0031.jpg`)) });
    assert.equal(((await response.json()) as { results: Array<{ label: string }> }).results[0]?.label, newcomer);
  });
});
