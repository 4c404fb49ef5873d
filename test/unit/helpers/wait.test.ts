import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolvesWithin, StopWaiting, waitFor, waitUntil } from "../../helpers/wait.js";

/** The one polling helper the tests share (test/helpers/wait.ts). */
describe("waitFor", () => {
  test("returns the first value the check gives, trying again after undefined and after errors", async () => {
    let tries = 0;
    const value = await waitFor("the third try", () => {
      tries += 1;
      if (tries === 1) return undefined;
      if (tries === 2) throw new Error("not yet");
      return "done";
    }, { everyMs: 1 });
    assert.equal(value, "done");
    assert.equal(tries, 3);
  });

  test("false is a value; waitUntil waits for true", async () => {
    assert.equal(await waitFor("a boolean", () => false, { everyMs: 1 }), false);
    let tries = 0;
    await waitUntil("the second try", () => ++tries === 2, { everyMs: 1 });
    assert.equal(tries, 2);
  });

  test("times out naming what it waited for, the check's last error and the explanation", async () => {
    await assert.rejects(
      waitFor("the moon", () => {
        throw new Error("still night");
      }, { timeoutMs: 30, everyMs: 5, explain: () => "the log says: cloudy" }),
      (error: Error) => {
        assert.match(error.message, /^timed out after 30 ms waiting for the moon \(last error: still night\)\nthe log says: cloudy$/);
        return true;
      },
    );
  });

  test("a number is the timeout", async () => {
    const started = Date.now();
    await assert.rejects(waitFor("nothing", () => undefined, 20), /timed out after 20 ms waiting for nothing$/);
    assert.ok(Date.now() - started < 1_000);
  });

  test("StopWaiting ends the wait at once with the check's own error", async () => {
    let tries = 0;
    await assert.rejects(
      waitFor("a dead process", () => {
        tries += 1;
        throw new StopWaiting("it exited with 1");
      }, { timeoutMs: 60_000, everyMs: 1 }),
      (error: Error) => error instanceof StopWaiting && error.message === "it exited with 1",
    );
    assert.equal(tries, 1);
  });
});

describe("resolvesWithin", () => {
  const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;

  test("true when the promise resolves in time, and its timer does not outlive it", async () => {
    const before = timers();
    assert.equal(await resolvesWithin(Promise.resolve("stopped"), 60_000), true);
    // The 60 s timer would keep the process alive for a minute after the answer (npm run bench did).
    assert.equal(timers(), before);
  });

  test("false when the time is up first", async () => {
    const before = timers();
    assert.equal(await resolvesWithin(new Promise(() => undefined), 5), false);
    assert.equal(timers(), before);
  });

  test("a rejection is passed on, and ends the timer too", async () => {
    const before = timers();
    await assert.rejects(resolvesWithin(Promise.reject(new Error("no such process")), 60_000), /^Error: no such process$/);
    assert.equal(timers(), before);
  });
});
