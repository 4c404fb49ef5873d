import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../../src/log.js";
import { FaceCapture, type CaptureDrop } from "../../../src/review/capture.js";
import { groupFaces, groupId } from "../../../src/review/group.js";
import { decodeEmbedding, faceIdPattern, Inbox, type NewFace } from "../../../src/review/inbox.js";

/** The inbox of captured faces on a real folder: bounds, ages, atomic faces, grouping, capture off the request path. */

const day = 86_400_000;
const start = Date.parse("2026-12-01T10:00:00.000Z");

function newFace(direction: number[], overrides: Partial<NewFace> = {}): NewFace {
  return {
    modelVersion: "v3",
    reason: "unknown",
    answer: "unknown",
    score: 0.4,
    margin: 0.1,
    distance: 0.52,
    nearest: { label: "Alice", distance: 0.52 },
    box: { x: 10, y: 20, width: 100, height: 100 },
    backbone: "face-embedding:abc",
    embedding: Float32Array.from(direction),
    ...overrides,
  };
}

const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]);

describe("the inbox", () => {
  let folder = "";
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "faceops-inbox-test-"));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  test("a face is kept whole with its answer and embedding, and read back", async () => {
    const inbox = new Inbox(join(folder, "whole"), { maxItems: 10, maxAgeDays: 30 });
    const { id, evicted, expired } = await inbox.add(newFace([0.6, 0.8]), jpeg, null, start);
    assert.match(id, faceIdPattern);
    assert.deepEqual([evicted, expired], [0, 0]);
    const [face] = await inbox.list();
    assert.equal(face?.id, id);
    assert.equal(face?.capturedAt, "2026-12-01T10:00:00.000Z");
    assert.equal(face?.hasPhoto, false);
    assert.deepEqual([...decodeEmbedding(face?.embedding ?? "")].map((value) => value.toFixed(2)), ["0.60", "0.80"]);
    assert.deepEqual(await inbox.readCrop(id), Buffer.from(jpeg));
    assert.deepEqual((await readdir(join(folder, "whole", "faces", id))).sort(), ["face.jpg", "face.json"], "no photo unless keepPhoto");
  });

  test("1,000 faces into an inbox of 100 leave the newest 100 and count 900 evictions", async () => {
    const inbox = new Inbox(join(folder, "full"), { maxItems: 100, maxAgeDays: 30 });
    let evicted = 0;
    const ids: string[] = [];
    for (let index = 0; index < 1000; index++) {
      const added = await inbox.add(newFace([1, 0]), jpeg, null, start + index);
      evicted += added.evicted;
      ids.push(added.id);
    }
    assert.equal(evicted, 900);
    const kept = await inbox.list();
    assert.equal(kept.length, 100);
    assert.deepEqual(kept.map((face) => face.id), ids.slice(900));
    assert.equal((await readdir(join(folder, "full", "faces"))).length, 100, "nothing left behind on disk");
  });

  test("faces older than maxAgeDays are removed, and counted apart from evictions", async () => {
    const inbox = new Inbox(join(folder, "aged"), { maxItems: 100, maxAgeDays: 7 });
    await inbox.add(newFace([1, 0]), jpeg, null, start);
    await inbox.add(newFace([1, 0]), jpeg, null, start + 3 * day);
    const later = await inbox.add(newFace([1, 0]), jpeg, jpeg, start + 8 * day);
    assert.deepEqual([later.expired, later.evicted], [1, 0]);
    assert.equal((await inbox.list()).length, 2);
    assert.deepEqual(await inbox.prune(start + 12 * day), { expired: 1, evicted: 0 });
    assert.deepEqual((await inbox.list()).map((face) => face.id), [later.id]);
  });

  test("faces another process removed free their room: nothing is evicted for them", async () => {
    const root = join(folder, "shared");
    const capturing = new Inbox(root, { maxItems: 3, maxAgeDays: 30 });
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) ids.push((await capturing.add(newFace([1, 0]), jpeg, null, start + index)).id);
    // A reviewer discards two faces through another instance (another process, in practice).
    assert.equal(await new Inbox(root, { maxItems: 3, maxAgeDays: 30 }).remove(ids.slice(0, 2)), 2);
    const next = await capturing.add(newFace([1, 0]), jpeg, null, start + 10);
    assert.deepEqual([next.evicted, next.expired], [0, 0]);
    assert.deepEqual((await capturing.list()).map((face) => face.id), [ids[2], next.id]);
  });

  test("a reader never sees half a face: nothing but whole folders under faces/", async () => {
    const inbox = new Inbox(join(folder, "atomic"), { maxItems: 10, maxAgeDays: 30 });
    await Promise.all([0, 1, 2, 3].map((index) => inbox.add(newFace([1, 0]), jpeg, jpeg, start + index)));
    const names = await readdir(join(folder, "atomic", "faces"));
    assert.equal(names.length, 4);
    assert.ok(names.every((name) => faceIdPattern.test(name)), names.join(", "));
  });

  test("limits and ids are checked", async () => {
    assert.throws(() => new Inbox(folder, { maxItems: 0, maxAgeDays: 1 }), /maxItems must be a whole number of 1 or more, received 0/);
    assert.throws(() => new Inbox(folder, { maxItems: 1, maxAgeDays: 0 }), /maxAgeDays must be more than 0/);
    await assert.rejects(new Inbox(folder, { maxItems: 1, maxAgeDays: 1 }).read("../../etc/passwd"), /"..\/..\/etc\/passwd" is not a face id/);
  });
});

describe("grouping inbox faces", () => {
  const face = (id: string, direction: number[], nearest: NewFace["nearest"] = null, backbone = "b1") => ({
    ...newFace(direction, { nearest, backbone }),
    id: `f20261201T10000000${id}Z00000000`,
    capturedAt: "2026-12-01T10:00:00.000Z",
    embedding: Buffer.from(Float32Array.from(direction).buffer).toString("base64"),
    hasPhoto: false,
  });

  test("faces within the link distance, directly or through others, are one group; the nearest known person is the group's nearest", () => {
    const a1 = face("1", [1, 0, 0], { label: "Alice", distance: 0.6 });
    const a2 = face("2", [0.95, 0.31, 0], { label: "Alice", distance: 0.45 });
    const a3 = face("3", [0.81, 0.59, 0]);
    const b1 = face("4", [0, 0, 1]);
    const groups = groupFaces([b1, a3, a1, a2], 0.35);
    assert.equal(groups.length, 2);
    assert.deepEqual(groups[0]?.faces.map((member) => member.id), [a1.id, a2.id, a3.id], "a1 and a3 are 0.65 apart, linked through a2");
    assert.deepEqual(groups[0]?.nearest, { label: "Alice", distance: 0.45 });
    assert.equal(groups[0]?.id, groupId([a3.id, a1.id, a2.id]), "the id names the members, in any order");
    assert.deepEqual(groups[1]?.faces.map((member) => member.id), [b1.id]);
    assert.equal(groups[1]?.nearest, null);
  });

  test("faces of different backbones are never grouped, however near", () => {
    const groups = groupFaces([face("1", [1, 0], null, "b1"), face("2", [1, 0], null, "b2")], 0.5);
    assert.equal(groups.length, 2);
  });
});

describe("capture off the request path", () => {
  let folder = "";
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "faceops-capture-test-"));
  });
  after(() => rm(folder, { recursive: true, force: true }));
  const offered = () => ({ face: newFace([1, 0]), crop: () => Promise.resolve(jpeg), photo: null });

  test("offer neither waits nor throws; a full queue drops and counts", async () => {
    const drops: Array<[CaptureDrop, number]> = [];
    let captured = 0;
    const capture = new FaceCapture(new Inbox(join(folder, "queue"), { maxItems: 5, maxAgeDays: 1 }), {
      clock: { now: () => start },
      log: silentLogger(),
      maxPending: 3,
      events: { captured: () => captured++, dropped: (reason, count) => drops.push([reason, count]) },
    });
    for (let index = 0; index < 10; index++) assert.equal(capture.offer(offered()), undefined);
    await capture.drain();
    const busy = drops.filter(([reason]) => reason === "busy").length;
    assert.equal(captured + busy, 10);
    assert.ok(busy >= 6, `at most 3 wait and 1 is written at a time: ${busy} dropped`);
  });

  test("a full or read-only disk stops capture once, with the reason; offering goes on without error", async () => {
    for (const code of ["EROFS", "ENOSPC"]) {
      let writes = 0;
      const failing = {
        root: "/srv/faceops/inbox",
        add: () => {
          writes++;
          return Promise.reject(Object.assign(new Error(`${code}: cannot write`), { code }));
        },
      };
      const stops: string[] = [];
      const drops: CaptureDrop[] = [];
      const capture = new FaceCapture(failing, { clock: { now: () => start }, log: silentLogger(), events: { stopped: (reason) => stops.push(reason), dropped: (reason) => drops.push(reason) } });
      capture.offer(offered());
      await capture.drain();
      capture.offer(offered());
      await capture.drain();
      assert.equal(writes, 1, "no write is tried once capture has stopped");
      assert.deepEqual(drops, ["failed"]);
      assert.deepEqual(stops, [`the inbox at /srv/faceops/inbox cannot be written (${code}): face capture is off until the service restarts`]);
      assert.equal(capture.stopped, stops[0]);
    }
  });

  test("any other failed write loses that face alone", async () => {
    let writes = 0;
    const flaky = { root: "/srv/inbox", add: () => (++writes === 1 ? Promise.reject(Object.assign(new Error("EIO"), { code: "EIO" })) : Promise.resolve({ id: "f", evicted: 0, expired: 0 })) };
    let captured = 0;
    const capture = new FaceCapture(flaky, { clock: { now: () => start }, log: silentLogger(), events: { captured: () => captured++ } });
    capture.offer(offered());
    capture.offer(offered());
    await capture.drain();
    assert.equal(capture.stopped, null);
    assert.equal(captured, 1);
  });

});
