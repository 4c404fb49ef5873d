import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import { loadConfig } from "../../../src/config/load.js";
import { ReviewCommitter } from "../../../src/controller/review-committer.js";
import { GitSource } from "../../../src/dataset/source.js";
import { silentLogger } from "../../../src/log.js";
import { commitDecision, datasetCheckOfCommit } from "../../../src/review/commit.js";
import { ReviewDecisions } from "../../../src/review/decisions.js";
import { Inbox, type NewFace } from "../../../src/review/inbox.js";
import { waitingGroups } from "../../../src/review/queue.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { systemClock } from "../../../src/util/clock.js";
import { lfwFaceCrop } from "../../helpers/composite.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo } from "../../helpers/training.js";

/**
 * The review committer against a real repository and store: pending decisions become commits and
 * leave the inbox, a refused one fails and gives its faces back, and one already committed before a
 * restart is recognised, not committed again.
 */

const crop = (index: number) => lfwFaceCrop(lfwPhotos("Colin_Powell")[index] as string);
const face = (embedding: number[]): NewFace => ({ modelVersion: "v1", reason: "unknown", answer: "unknown", score: 0.4, margin: 0.1, distance: 0.6, nearest: null, box: null, backbone: "b", embedding: Float32Array.from(embedding) });

describe("the review committer", () => {
  const repo = faceRepo(["Hugo_Chavez", "Serena_Williams"], 5);
  const folder = temporaryFolder();
  const store = new StoreLayout(folder.path);
  const inbox = new Inbox(store.inbox, { maxItems: 100, maxAgeDays: 30 });
  const decisions = new ReviewDecisions(store.inbox);
  const log = silentLogger();
  const kicks: string[] = [];
  after(() => {
    repo.dispose();
    folder.dispose();
  });
  const target = async () => ({ source: await GitSource.open(repo.path, { store, log, env: process.env }), branch: "main", remote: false, committer: { name: "faceops", email: "faceops@localhost" } });
  const committer = async () =>
    new ReviewCommitter({
      decisions,
      inbox,
      openTarget: target,
      check: datasetCheckOfCommit({ location: repo.path, dataset: (await loadConfig({})).config.dataset, store, log, env: process.env }),
      clock: systemClock,
      log,
      onCommitted: (commit) => kicks.push(commit),
      intervalMs: 60_000,
    });

  test("commits the pending decisions, removes their faces, wakes the controller; a refused one gives its faces back", async () => {
    const assigned = [(await inbox.add(face([1, 0]), await crop(0), null, Date.now())).id, (await inbox.add(face([1, 0]), await crop(1), null, Date.now())).id];
    const tiny = (await inbox.add(face([0, 1]), await sharp({ create: { width: 10, height: 10, channels: 3, background: "#888" } }).jpeg().toBuffer(), null, Date.now())).id;
    const good = await decisions.record({ action: "assign", faces: assigned, person: "Colin Powell", reviewer: null, by: "cli" }, Date.now());
    const bad = await decisions.record({ action: "assign", faces: [tiny], person: "Colin Powell", reviewer: null, by: "cli" }, Date.now());
    assert.equal((await waitingGroups({ inbox, decisions, linkDistance: 0.5 })).length, 0, "both claimed while pending");

    assert.equal(await (await committer()).pass(), 1);
    const committed = await decisions.read(good.id);
    assert.equal(committed?.state, "committed");
    assert.equal(committed?.commit, repo.git("rev-parse", "HEAD").trim());
    assert.equal(committed?.branch, "main");
    assert.deepEqual(kicks, [committed?.commit]);
    assert.equal(await inbox.read(assigned[0] as string), null, "committed faces leave the inbox");
    const refused = await decisions.read(bad.id);
    assert.equal(refused?.state, "failed");
    assert.match(refused?.reason ?? "", /would reject 1 of the reviewed faces/);
    assert.deepEqual((await waitingGroups({ inbox, decisions, linkDistance: 0.5 })).flatMap((group) => group.faces.map((waiting) => waiting.id)), [tiny], "the refused face waits for review again");
    assert.equal(await (await committer()).pass(), 0, "nothing pending any more");
  });

  test("a decision committed just before a restart is recognised, not committed twice", async () => {
    const ids = [(await inbox.add(face([1, 0]), await crop(2), null, Date.now())).id];
    const decision = await decisions.record({ action: "assign", faces: ids, person: "Colin Powell", reviewer: null, by: "cli" }, Date.now());
    const opened = await target();
    const made = await commitDecision(decision, inbox, opened, () => Promise.resolve([]));
    await opened.source.close();
    const before = kicks.length;
    assert.equal(await (await committer()).pass(), 1);
    assert.equal((await decisions.read(decision.id))?.commit, made.commit);
    assert.equal(repo.git("rev-parse", "HEAD").trim(), made.commit, "no second commit");
    assert.equal(kicks.length, before, "nothing new for the controller");
  });
});
