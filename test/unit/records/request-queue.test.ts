import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import { addRunRequest, adoptLegacyRunRequest, listRunRequests, newRequestId, pruneRunRequests, readRunRequest, requestIdPattern, writeRunRequest } from "../../../src/records/requests.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

describe("the run request queue in the store", () => {
  const folder = temporaryFolder("faceops-request-queue-");
  after(() => folder.dispose());
  let next = 0;
  const fresh = () => new StoreLayout(`${folder.path}/${next++}`);
  const t0 = Date.parse("2026-11-28T12:00:00.000Z");

  test("ids sort in arrival order and are safe file names", () => {
    const ids = [newRequestId(t0), newRequestId(t0 + 1), newRequestId(t0 + 1000)];
    for (const id of ids) assert.match(id, requestIdPattern);
    assert.deepEqual([...ids].sort(), ids);
    assert.match(ids[0] ?? "", /^20261128T120000000Z-/);
  });

  test("one record per request, oldest first; only pending ones wait", async () => {
    const store = fresh();
    const first = await addRunRequest(store, { commit: "main", sha: "a".repeat(40), force: false, by: "10.0.0.1" }, t0);
    const second = await addRunRequest(store, { commit: null, sha: null, force: true, by: "10.0.0.2" }, t0 + 50);
    assert.deepEqual((await listRunRequests(store)).map((record) => [record.id, record.state]), [
      [first.id, "pending"],
      [second.id, "pending"],
    ]);
    await writeRunRequest(store, { ...first, state: "started", run: "3", reason: "run 3 was created for it", resolvedAt: new Date(t0 + 60).toISOString() });
    assert.deepEqual((await readRunRequest(store, first.id))?.run, "3");
    assert.equal(await readRunRequest(store, newRequestId(t0 + 5)), null);
  });

  test("a record that cannot be read reads as failed: it neither stops the queue nor runs", async () => {
    const store = fresh();
    const good = await addRunRequest(store, { commit: "main", sha: "a".repeat(40), force: false, by: "x" }, t0 + 10);
    const broken = newRequestId(t0);
    mkdirSync(store.runRequests, { recursive: true });
    writeFileSync(store.runRequest(broken), '{"id": "half-writ');
    const listed = await listRunRequests(store);
    assert.deepEqual(listed.map((record) => [record.id, record.state]), [
      [broken, "failed"],
      [good.id, "pending"],
    ]);
    assert.match(listed[0]?.reason ?? "", /not valid JSON/);
  });

  test("pruning keeps every pending request and the newest resolved ones", async () => {
    const store = fresh();
    const records = [];
    for (let index = 0; index < 5; index++) records.push(await addRunRequest(store, { commit: null, sha: null, force: false, by: "x" }, t0 + index));
    for (const record of records.slice(0, 4)) await writeRunRequest(store, { ...record, state: "skipped", reason: "same dataset" });
    await pruneRunRequests(store, 2);
    assert.deepEqual((await listRunRequests(store)).map((record) => record.id), records.slice(2).map((record) => record.id));
  });

  test("the one request slot of an older faceops is moved into the queue once, then removed", async () => {
    const store = fresh();
    mkdirSync(store.root, { recursive: true });
    writeFileSync(store.legacyRunRequest, JSON.stringify({ commit: "doesnotexist", force: true, requestedAt: "2026-11-27T10:00:00.000Z", by: "10.0.0.9" }));
    const adopted = await adoptLegacyRunRequest(store, t0);
    assert.deepEqual([adopted?.commit, adopted?.sha, adopted?.force, adopted?.by, adopted?.state], ["doesnotexist", null, true, "10.0.0.9", "pending"]);
    assert.equal(existsSync(store.legacyRunRequest), false);
    assert.equal(await adoptLegacyRunRequest(store, t0), null);
    assert.equal((await listRunRequests(store)).length, 1);
  });
});
