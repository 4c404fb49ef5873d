import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { currentProcessIdentity, isAlive, processStartTime } from "../../../src/store/process-identity.js";
import { acquireLock, readLock, releaseLock } from "../../../src/store/lock.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { waitUntil } from "../../helpers/wait.js";

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

  test("many processes racing to take over one stale lock: exactly one wins, every time", { timeout: 120_000 }, async () => {
    const arena = join(folder.path, "race");
    mkdirSync(arena);
    const rounds = 8;
    const processes = 4;
    const racers = 6;
    const me = await currentProcessIdentity();
    // Each round's lock is stale: our own pid with a start time that is not ours (its holder is gone).
    for (let round = 0; round < rounds; round++) writeFileSync(join(arena, `lock-${round}`), JSON.stringify({ pid: me.pid, startTime: "1", acquiredAt: "long ago" }));
    const script = resolve(import.meta.dirname, "../../helpers/lock-racer.ts");
    const children: ChildProcessWithoutNullStreams[] = [];
    const outputs: string[] = [];
    try {
      for (let index = 0; index < processes; index++) {
        const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script, arena, String(rounds), String(racers), `p${index}`], { stdio: ["pipe", "pipe", "pipe"] });
        children.push(child);
        outputs.push("");
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (outputs[index] += chunk));
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (outputs[index] += chunk));
      }
      const lines = () => outputs.flatMap((output) => output.split("\n").filter((line) => line.startsWith("{")));
      await waitUntil("every racer to be ready", () => outputs.every((output) => output.startsWith("ready")), { timeoutMs: 60_000, everyMs: 20, explain: () => `the racers said:\n${outputs.join("\n")}` });
      // A common start a moment from now, so that every process contends in the same instant.
      writeFileSync(join(arena, "go"), String(Date.now() + 300));
      await waitUntil("every round of every racer", () => lines().length === rounds * processes * racers, { timeoutMs: 60_000, everyMs: 20, explain: () => `the racers said:\n${outputs.join("\n")}` });
      const outcomes = lines().map((line) => JSON.parse(line) as { round: number; racer: string; acquired: boolean; error?: string });
      for (let round = 0; round < rounds; round++) {
        const winners = outcomes.filter((outcome) => outcome.round === round && outcome.acquired).map((outcome) => outcome.racer);
        assert.equal(winners.length, 1, `round ${round}: winners ${winners.join(", ") || "none"}; ${JSON.stringify(outcomes.filter((outcome) => outcome.round === round && outcome.error))}`);
        const holder = JSON.parse(readFileSync(join(arena, `lock-${round}`), "utf8")) as { racer?: string };
        assert.equal(holder.racer, winners[0], `round ${round}: the lock file names the winner`);
      }
    } finally {
      for (const child of children) child.stdin.end();
      await Promise.all(children.filter((child) => child.exitCode === null).map((child) => new Promise((done) => child.once("exit", done))));
    }
  });
});
