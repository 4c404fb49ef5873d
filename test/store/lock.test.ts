import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { currentProcessIdentity, isAlive, processStartTime } from "../../src/platform/local/process-identity.js";
import { acquireLock, readLock, releaseLock } from "../../src/store/lock.js";
import { temporaryFolder } from "../helpers/git-repo.js";

describe("process locks", () => {
  const folder = temporaryFolder("faceops-lock-");
  after(() => folder.dispose());

  test("one holder at a time: a live holder keeps it, and only the holder releases it", async () => {
    const path = join(folder.path, "a", "process.json");
    const me = await currentProcessIdentity();
    const first = await acquireLock(path, { ...me, acquiredAt: "now" });
    assert.equal(first.acquired, true);
    const second = await acquireLock(path, { ...me, acquiredAt: "later" });
    assert.equal(second.acquired, false);
    assert.equal(second.holder.acquiredAt, "now");
    await releaseLock(path, { pid: me.pid + 1, startTime: me.startTime });
    assert.notEqual(await readLock(path), null, "someone else cannot release it");
    await releaseLock(path, me);
    assert.equal(await readLock(path), null);
  });

  test("the lock of a process that died (kill -9) is taken over", async () => {
    const path = join(folder.path, "b", "process.json");
    const child = spawn("sleep", ["30"]);
    const pid = child.pid as number;
    const identity = { pid, startTime: await processStartTime(pid) };
    assert.equal((await acquireLock(path, { ...identity, acquiredAt: "child" })).acquired, true);
    const me = await currentProcessIdentity();
    assert.equal((await acquireLock(path, { ...me, acquiredAt: "me" })).acquired, false, "the child is alive");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(await isAlive(identity), false);
    const taken = await acquireLock(path, { ...me, acquiredAt: "me" });
    assert.equal(taken.acquired, true);
    assert.equal((await readLock(path))?.acquiredAt, "me");
  });

  test("a recycled pid with another start time does not keep a dead holder's lock", async () => {
    const path = join(folder.path, "c", "process.json");
    const me = await currentProcessIdentity();
    mkdirSync(dirname(path), { recursive: true });
    // Our own pid, but a start time that is not ours: the process that wrote it is gone.
    writeFileSync(path, JSON.stringify({ pid: me.pid, startTime: "1", acquiredAt: "long ago" }));
    assert.equal(await isAlive({ pid: me.pid, startTime: "1" }), false);
    assert.equal((await acquireLock(path, { ...me, acquiredAt: "now" })).acquired, true);
  });

  test("a half-written lock file (its writer died mid-write) is taken over", async () => {
    const path = join(folder.path, "d", "process.json");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '{"pid": 12');
    const me = await currentProcessIdentity();
    assert.equal((await acquireLock(path, { ...me, acquiredAt: "now" })).acquired, true);
  });
});
