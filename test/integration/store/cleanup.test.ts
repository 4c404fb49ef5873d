import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { processStartTime } from "../../../src/store/process-identity.js";
import { cleanStaleFiles, removeStaleLock } from "../../../src/store/cleanup.js";
import { writeJsonAtomic } from "../../../src/store/files.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { acquireLock, readLock } from "../../../src/store/lock.js";
import { currentOwner, temporaryOwner, temporaryPath, type Owner } from "../../../src/store/owner.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

/** A process of this machine and container that ran and is gone: its pid and start time, provably dead. */
async function deadOwner(): Promise<Owner> {
  const child = spawn("sleep", ["30"]);
  const pid = child.pid as number;
  const startTime = await processStartTime(pid);
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  return { pid, startTime, scope: (await currentOwner()).scope };
}

const tag = (owner: Owner) => `${owner.pid}_${owner.startTime ?? "x"}_${owner.scope ?? "x"}`;

describe("stale temporary and lock files", () => {
  const folder = temporaryFolder("faceops-cleanup-");
  const store = new StoreLayout(folder.path);
  let dead: Owner;
  let me: Owner;
  const touch = (relative: string, contents = "x") => {
    mkdirSync(dirname(join(store.root, relative)), { recursive: true });
    writeFileSync(join(store.root, relative), contents);
    return relative;
  };
  before(async () => {
    dead = await deadOwner();
    me = await currentOwner();
  });
  after(() => folder.dispose());

  test("temporary names record their writer, and read back", async () => {
    const path = await temporaryPath("/store/runs/1/run.json", "tmp");
    assert.match(path, /^\/store\/runs\/1\/run\.json\.tmp-[0-9]+_[0-9x]+_[0-9a-fx]{1,8}-[0-9a-f]{8}$/);
    assert.deepEqual(temporaryOwner(path), me);
    assert.equal(temporaryOwner("/store/runs/1/run.json.tmp-123-abcdef01"), null, "an older name records no start time");
  });

  test("a crash's strays are removed when their writer is provably gone, and only then; each is reported", async () => {
    await writeJsonAtomic(store.runRecord("1"), { id: "1" });
    const gone = [
      touch(`runs/1/run.json.tmp-${tag(dead)}-0a0b0c0d`),
      touch(`features/ab/${"ab".repeat(32)}/vgg16.f32.tmp-${tag(dead)}-01020304`),
      touch(`controller.lock.new-${tag(dead)}-a1b2c3d4`),
      touch("runs/1/attempt-1/process.json.stale-0badc0de"),
    ];
    mkdirSync(join(store.root, `sources/0123456789abcdef.partial-${tag(dead)}-deadbeef/objects`), { recursive: true });
    gone.push(`sources/0123456789abcdef.partial-${tag(dead)}-deadbeef`);
    const otherPod = touch(`models/current.json.tmp-${dead.pid}_${dead.startTime}_fffffff0-11111111`);
    const older = touch("cache/validation.json.tmp-4242-aabbccdd");
    const inProgress = touch(`datasets/f.json.tmp-${tag(me)}-22222222`);
    const report = await cleanStaleFiles(store);
    assert.deepEqual([...report.removed].sort(), [...gone].sort());
    for (const path of gone) assert.equal(existsSync(join(store.root, path)), false, path);
    assert.deepEqual([...report.kept].sort(), [older, otherPod].sort(), "another pod's and an older faceops' strays cannot be proven stale");
    for (const path of [otherPod, older, inProgress, "runs/1/run.json"]) assert.ok(existsSync(join(store.root, path)), path);
    // Git's own files inside a clone are not looked at.
    touch(`sources/0123456789abcdef/objects/pack/tmp_pack.tmp-${tag(dead)}-33333333`);
    assert.ok(!(await cleanStaleFiles(store)).removed.some((path) => path.startsWith("sources/0123456789abcdef/")));
  });

  test("a lock file is removed only when its holder is provably gone", async () => {
    const lock = store.attempt("2", 1).lock;
    mkdirSync(dirname(lock), { recursive: true });
    writeFileSync(lock, JSON.stringify({ ...dead, acquiredAt: "then" }));
    assert.equal(await removeStaleLock(lock), "removed");
    assert.equal(existsSync(lock), false);
    writeFileSync(lock, JSON.stringify({ pid: dead.pid, startTime: dead.startTime, acquiredAt: "then" }));
    assert.equal(await removeStaleLock(lock), "unknown", "a lock of an older faceops names no scope: its pid may be another pod's");
    const held = await acquireLock(store.attempt("2", 2).lock, { ...me, acquiredAt: "now" });
    assert.equal(held.acquired, true);
    assert.equal(await removeStaleLock(store.attempt("2", 2).lock), "alive");
    assert.notEqual(await readLock(store.attempt("2", 2).lock), null);
  });

  test("a takeover claim left by a claimant that died neither blocks the lock nor stays", async () => {
    const lock = join(store.root, "claimed", "process.json");
    mkdirSync(dirname(lock), { recursive: true });
    const contents = JSON.stringify({ ...dead, acquiredAt: "then" });
    writeFileSync(lock, contents);
    const id = `${statSync(lock).ino}-${createHash("sha256").update(contents).digest("hex").slice(0, 16)}`;
    const claim = `${lock}.takeover-${id}`;
    writeFileSync(claim, JSON.stringify({ ...dead, acquiredAt: "then", claims: id }));
    const taken = await acquireLock(lock, { ...me, acquiredAt: "now" });
    assert.equal(taken.acquired, true);
    assert.equal(existsSync(claim), false);
    assert.equal((await readLock(lock))?.acquiredAt, "now");
  });
});
