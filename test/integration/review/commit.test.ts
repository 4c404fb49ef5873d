import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import { loadConfig } from "../../../src/config/load.js";
import { GitSource } from "../../../src/dataset/source.js";
import { silentLogger } from "../../../src/log.js";
import { commitDecision, datasetCheckOfCommit, decisionTrailer, ReviewCommitRefused } from "../../../src/review/commit.js";
import { ReviewDecisions } from "../../../src/review/decisions.js";
import { Inbox, type NewFace } from "../../../src/review/inbox.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { lfwFaceCrop } from "../../helpers/composite.js";
import { startGitHttpServer } from "../../helpers/git-http-server.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo } from "../../helpers/training.js";

/**
 * Review decisions as commits to a real face repository, checked by the real dataset check before
 * any branch moves: faces assigned to a new person land under their folder with their provenance in
 * the message, faces that are not someone under _not/<person>/, a decision is committed once however
 * often it is acted on, a face the check would reject is refused, and a remote gets a branch.
 */

const committer = { name: "faceops", email: "faceops@localhost" };
const crop = (person: string, index: number) => lfwFaceCrop(lfwPhotos(person)[index] as string);
const face = (answer = "unknown"): NewFace => ({ modelVersion: "v2", reason: "unknown", answer, score: 0.41, margin: 0.05, distance: 0.512, nearest: { label: "Hugo_Chavez", distance: 0.512 }, box: { x: 1, y: 2, width: 90, height: 90 }, backbone: "face-embedding", embedding: new Float32Array([1, 0]) });

describe("committing review decisions", () => {
  const repo = faceRepo(["Hugo_Chavez", "Serena_Williams"], 5);
  const store = temporaryFolder();
  const layout = new StoreLayout(store.path);
  const inbox = new Inbox(layout.inbox, { maxItems: 100, maxAgeDays: 30 });
  const decisions = new ReviewDecisions(layout.inbox);
  const log = silentLogger();
  after(() => {
    repo.dispose();
    store.dispose();
  });
  const target = async () => ({ source: await GitSource.open(repo.path, { store: layout, log, env: process.env }), branch: "main", remote: false, committer });
  const check = async () => datasetCheckOfCommit({ location: repo.path, dataset: (await loadConfig({})).config.dataset, store: layout, log, env: process.env });

  test("assign: the crops under the person's folder, the reviewer as author, each face's origin in the message; acted on twice, committed once", async () => {
    const ids = [];
    for (const index of [0, 1, 2]) ids.push((await inbox.add(face(), await crop("Colin_Powell", index), null, Date.parse("2026-12-04T10:00:00Z") + index)).id);
    const decision = await decisions.record({ action: "assign", faces: ids, person: "Colin Powell", reviewer: { name: "Grace Hopper", email: "grace@example.com" }, by: "cli" }, Date.parse("2026-12-04T11:00:00Z"));
    const before = repo.git("rev-parse", "HEAD").trim();
    const first = await target();
    try {
      const committed = await commitDecision(decision, inbox, first, await check());
      assert.equal(committed.already, false);
      assert.equal(committed.branch, "main");
      assert.deepEqual(committed.notices, ['"Colin Powell" has 3 photos now: a person is trained once they have 5 (dataset.minImagesPerLabel)']);
      assert.equal(repo.git("rev-parse", "HEAD").trim(), committed.commit);
      assert.equal(repo.git("rev-parse", "HEAD^").trim(), before);
      assert.deepEqual(committed.paths.map((path) => path.split("/")[0]), ["Colin Powell", "Colin Powell", "Colin Powell"]);
      assert.ok(committed.paths.every((path) => /^Colin Powell\/[0-9a-f]{16}\.jpg$/.test(path)), committed.paths.join(", "));
      const message = repo.git("log", "-1", "--format=%an <%ae>%n%B").trim();
      assert.match(message, /^Grace Hopper <grace@example\.com>\nfaceops: 3 faces of Colin Powell, reviewed/);
      assert.match(message, /captured 2026-12-04T10:00:00\.000Z by model v2, answered "unknown" at distance 0\.512; nearest known person Hugo_Chavez \(0\.512\)/);
      assert.match(message, new RegExp(`${decisionTrailer}: ${decision.id}$`));
      assert.equal(repo.git("status", "--porcelain").trim(), "");

      const again = await commitDecision(decision, inbox, first, await check());
      assert.deepEqual([again.already, again.commit], [true, committed.commit]);
      assert.equal(repo.git("rev-parse", "HEAD").trim(), committed.commit, "no second commit");
    } finally {
      await first.source.close();
    }
  });

  test("not: under _not/<person>/, which the dataset check counts as strangers", async () => {
    const id = (await inbox.add(face("Hugo_Chavez"), await crop("George_W_Bush", 0), null, Date.now())).id;
    const decision = await decisions.record({ action: "not", faces: [id], person: "Hugo_Chavez", reviewer: null, by: "127.0.0.1" }, Date.now());
    const opened = await target();
    try {
      const committed = await commitDecision(decision, inbox, opened, await check());
      assert.match(committed.paths[0] ?? "", /^_not\/Hugo_Chavez\/[0-9a-f]{16}\.jpg$/);
      assert.match(repo.git("log", "-1", "--format=%an|%s").trim(), /^faceops\|faceops: 1 face that is not Hugo_Chavez, reviewed$/);
    } finally {
      await opened.source.close();
    }
  });

  test("a face the dataset check would reject is not committed, and nothing moves", async () => {
    const tiny = await sharp({ create: { width: 10, height: 10, channels: 3, background: "#777" } }).jpeg().toBuffer();
    const id = (await inbox.add(face(), tiny, null, Date.now())).id;
    const decision = await decisions.record({ action: "assign", faces: [id], person: "Colin Powell", reviewer: null, by: "cli" }, Date.now());
    const head = repo.git("rev-parse", "HEAD").trim();
    const opened = await target();
    try {
      await assert.rejects(commitDecision(decision, inbox, opened, await check()), (error: Error) => error instanceof ReviewCommitRefused && /would reject 1 of the reviewed faces: Colin Powell\/[0-9a-f]{16}\.jpg \(too_small/.test(error.message));
      assert.equal(repo.git("rev-parse", "HEAD").trim(), head);
    } finally {
      await opened.source.close();
    }
  });

  test("a remote repository gets the branch faceops/review-<n>, and main stays as it was", async () => {
    const serverRoot = temporaryFolder();
    const bare = join(serverRoot.path, "faces.git");
    execFileSync("git", ["clone", "--quiet", "--bare", repo.path, bare]);
    const server = await startGitHttpServer(serverRoot.path, { username: "ci-bot", password: "s3cret" });
    const remoteStore = new StoreLayout(join(store.path, "remote"));
    const source = await GitSource.open(`${server.url}/faces.git`, { store: remoteStore, log, env: process.env, credentials: { username: "ci-bot", password: "s3cret" } });
    try {
      const id = (await inbox.add(face(), await crop("Colin_Powell", 5), null, Date.now())).id;
      const decision = await decisions.record({ action: "assign", faces: [id], person: "Colin Powell", reviewer: null, by: "cli" }, Date.now());
      const remoteCheck = datasetCheckOfCommit({ location: `${server.url}/faces.git`, dataset: (await loadConfig({})).config.dataset, store: remoteStore, log, env: process.env, credentials: { username: "ci-bot", password: "s3cret" } });
      const main = execFileSync("git", ["--git-dir", bare, "rev-parse", "main"], { encoding: "utf8" }).trim();
      const committed = await commitDecision(decision, inbox, { source, branch: "main", remote: true, committer }, remoteCheck);
      assert.equal(committed.branch, `faceops/review-${decision.number}`);
      assert.equal(execFileSync("git", ["--git-dir", bare, "rev-parse", committed.branch], { encoding: "utf8" }).trim(), committed.commit);
      assert.equal(execFileSync("git", ["--git-dir", bare, "rev-parse", "main"], { encoding: "utf8" }).trim(), main);
      const again = await commitDecision(decision, inbox, { source, branch: "main", remote: true, committer }, remoteCheck);
      assert.deepEqual([again.already, again.commit], [true, committed.commit]);
    } finally {
      await source.close();
      await server.close();
      serverRoot.dispose();
    }
  });
});
