import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Inbox, type NewFace } from "../../../src/review/inbox.js";
import { pointCurrentModel } from "../../../src/store/models.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { runCliAsync } from "../../helpers/cli.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { faceRepo, trainBundle } from "../../helpers/training.js";

/**
 * `faceops inbox` on a store with a real model in service: the list's JSON contract, groups at the
 * model's open-set threshold, and decisions (assign a group, not a face, discard) with their audit
 * lines. The inbox is filled directly with embeddings placed around the model's threshold, so which
 * faces must group is known; capturing them from the service is tested with the service.
 */

interface Listed {
  groups: Array<{ id: string; faces: Array<{ id: string; capturedAt: string; modelVersion: string; answer: string; distance: number | null }>; nearest: { label: string; distance: number } | null }>;
}

describe("faceops inbox", () => {
  const folder = temporaryFolder();
  const store = new StoreLayout(join(folder.path, "store"));
  const env = { FACEOPS_STORE: store.root, FACEOPS_LOG_LEVEL: "warn" };
  let threshold = 0;
  after(() => folder.dispose());

  before(async () => {
    const repo = faceRepo(["Hugo_Chavez", "Serena_Williams", "Junichiro_Koizumi"], 6);
    try {
      const trained = await trainBundle(repo.path, store, {}, store.modelVersion("v1"));
      threshold = trained.metadata.openSet?.maxDistance ?? 0;
    } finally {
      repo.dispose();
    }
    await pointCurrentModel(store, "v1", "test");
    // A visitor seen three times (each a hair from the last), and someone else once, far away.
    const unit = (angle: number, axis: number) => {
      const vector = new Float32Array(128);
      vector[0] = Math.cos(angle);
      vector[axis] = Math.sin(angle);
      return vector;
    };
    const step = Math.asin(threshold / 3);
    const inbox = new Inbox(store.inbox, { maxItems: 500, maxAgeDays: 30 });
    const face = (embedding: Float32Array, nearest: NewFace["nearest"]): NewFace => ({ modelVersion: "v1", reason: "unknown", answer: "unknown", score: 0.5, margin: 0.2, distance: nearest?.distance ?? null, nearest, box: { x: 1, y: 2, width: 90, height: 90 }, backbone: "face-embedding", embedding });
    const now = Date.now();
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
    await inbox.add(face(unit(0, 1), { label: "Hugo_Chavez", distance: 0.61 }), jpeg, null, now - 4000);
    await inbox.add(face(unit(step, 1), { label: "Hugo_Chavez", distance: 0.58 }), jpeg, null, now - 3000);
    await inbox.add(face(unit(2 * step, 1), null), jpeg, null, now - 2000);
    await inbox.add(face(unit(Math.PI / 2, 2), null), jpeg, null, now - 1000);
    await inbox.add(face(unit(Math.PI / 2, 3), null), jpeg, null, now);
  });

  const cli = async (...args: string[]) => {
    const result = await runCliAsync(["inbox", ...args], { env });
    return result;
  };

  test("list --json: the contract, one group per visitor, the nearest known person", async () => {
    const result = await cli("list", "--json");
    assert.equal(result.status, 0, result.stderr);
    const listed = JSON.parse(result.stdout) as Listed;
    assert.deepEqual(listed.groups.map((group) => group.faces.length), [3, 1, 1], `three faces ${(threshold / 3).toFixed(3)} apart in a chain, at the threshold ${threshold.toFixed(3)}; two far apart`);
    const [visitor, other] = listed.groups as [Listed["groups"][number], Listed["groups"][number]];
    assert.match(visitor.id, /^g[0-9a-f]{16}$/);
    assert.deepEqual(visitor.nearest, { label: "Hugo_Chavez", distance: 0.58 });
    assert.equal(other.nearest, null);
    for (const key of ["id", "capturedAt", "modelVersion", "answer", "distance"]) assert.ok(key in (visitor.faces[0] as object), key);
    assert.equal(visitor.faces[0]?.modelVersion, "v1");
    assert.equal(visitor.faces[0]?.answer, "unknown");
    const text = await cli("list");
    assert.match(text.stdout, /5 face\(s\) in 3 group\(s\) wait for review/);
    assert.match(text.stdout, /GROUP +NEAREST +FACE +CAPTURED +MODEL +ANSWER +DISTANCE/);
  });

  test("assign a group to a new person, mark a face as not someone, discard the rest; each in the audit log", async () => {
    const listed = JSON.parse((await cli("list", "--json")).stdout) as Listed;
    const [visitor, other, stranger] = listed.groups as [Listed["groups"][number], Listed["groups"][number], Listed["groups"][number]];

    const refused = await cli("assign", visitor.id, "--person", "_not");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /person "_not" cannot be a folder name: names starting with "_" are faceops' own folders/);
    const badReviewer = await cli("assign", visitor.id, "--person", "Ada Visitor", "--reviewer", "ada");
    assert.match(badReviewer.stderr, /reviewer "ada" is not of the form "Name <email>"/);

    const assigned = await cli("assign", visitor.id, "--person", "Ada Visitor", "--reviewer", "Grace Hopper <grace@example.com>", "--json");
    assert.equal(assigned.status, 0, assigned.stderr);
    const decision = JSON.parse(assigned.stdout) as { action: string; faces: string[]; person: string; reviewer: unknown; state: string };
    assert.deepEqual([decision.action, decision.person, decision.state], ["assign", "Ada Visitor", "pending"]);
    assert.deepEqual(decision.faces, visitor.faces.map((face) => face.id).sort());
    assert.deepEqual(decision.reviewer, { name: "Grace Hopper", email: "grace@example.com" });

    const again = await cli("assign", visitor.id, "--person", "Ada Visitor");
    assert.equal(again.status, 1, "a group already decided is no longer waiting");
    assert.match(again.stderr, /is not in the inbox any more/);

    const notGroup = await cli("not", other.id, "--person", "Hugo_Chavez");
    assert.match(notGroup.stderr, /is a group: this action takes single faces/);
    const otherFace = other.faces[0]?.id as string;
    assert.equal((await cli("not", otherFace, "--person", "Hugo_Chavez")).status, 0);
    const discarded = await cli("discard", stranger.id);
    assert.equal(discarded.status, 0, discarded.stderr);
    assert.match(discarded.stdout, /Discarded 1 face\(s\)/);
    assert.equal(await new Inbox(store.inbox, { maxItems: 500, maxAgeDays: 30 }).read(stranger.faces[0]?.id as string), null, "a discarded face leaves the inbox at once");
    assert.deepEqual((JSON.parse((await cli("list", "--json")).stdout) as Listed).groups, [], "every face is decided");

    const audit = readFileSync(join(store.inbox, "audit.log"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { action: string; by: string; faces: string[]; person: string });
    assert.deepEqual(audit.map((entry) => [entry.action, entry.person, entry.faces.length, entry.by]), [["assign", "Ada Visitor", 3, "cli"], ["not", "Hugo_Chavez", 1, "cli"], ["discard", null, 1, "cli"]]);
  });
});
