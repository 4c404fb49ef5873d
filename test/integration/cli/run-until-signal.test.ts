import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { request } from "node:http";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { createBareApp } from "../../../src/http/app.js";
import { createLogger } from "../../../src/log.js";
import { runUntilSignal, type ProcessControl, type StopStep } from "../../../src/cli/wiring/run-until-signal.js";

/**
 * The one shutdown of `serve` and both `up` variants, driven in-process: a fake process delivers the
 * signal and records the exit code, the parts behind the server record when they are stopped.
 */

/** A process whose signals the test sends and whose exit it waits for. */
class FakeProcess extends EventEmitter implements ProcessControl {
  readonly exited: Promise<number>;
  private exitWith: (code: number) => void = () => undefined;
  constructor() {
    super();
    this.exited = new Promise((resolve) => (this.exitWith = resolve));
  }
  exit(code: number): void {
    this.exitWith(code);
  }
}

/** A server with one slow route (answered when the test says) and a log the test reads. */
function harness() {
  const events: string[] = [];
  const messages: string[] = [];
  /** The URL the server said it listens on. */
  let url = "";
  const log = createLogger({
    level: "info",
    format: "json",
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
          const record = JSON.parse(line) as { msg: string; url?: string };
          messages.push(record.msg);
          url = record.url ?? url;
        }
        done();
      },
    }),
  });
  let arrived: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => (arrived = resolve));
  let finish: () => void = () => undefined;
  const app = createBareApp();
  app.get("/slow", async (_request, response) => {
    arrived();
    await new Promise<void>((resolve) => (finish = resolve));
    events.push("request answered");
    response.json({ done: true });
  });
  const step = (what: string, fails = false): StopStep => ({
    what,
    stop: () => {
      events.push(`${what} stopped`);
      return fails ? Promise.reject(new Error(`${what} cannot stop`)) : Promise.resolve();
    },
  });
  const get = (url: string) =>
    new Promise<number>((resolve, reject) => {
      request(`${url}/slow`, { agent: false }, (response) => {
        response.resume().on("end", () => resolve(response.statusCode ?? 0));
      })
        .on("error", reject)
        .end();
    });
  return { events, messages, log, app, step, get, slowArrived, finish: () => finish(), url: () => url };
}

const address = { port: 0, host: "127.0.0.1", gracePeriod: 5_000 };

describe("runUntilSignal", () => {
  test("SIGTERM: stop accepting, finish the request in flight, then stop the parts in order, then exit 0", async () => {
    const { events, messages, log, app, step, get, slowArrived, finish } = harness();
    const fake = new FakeProcess();
    const running = await runUntilSignal(
      { app, name: "test service", address, log, stopping: "stopping: the test says so", start: () => Promise.resolve(void events.push("started")), stops: [step("controller"), step("follower"), step("workers")] },
      fake,
    );
    const answered = get(running.url);
    await slowArrived;
    fake.emit("SIGTERM");
    // SIGINT while stopping joins the shutdown under way: every part still stops once.
    fake.emit("SIGINT");
    await assert.rejects(fetch(`${running.url}/slow`), "no new connection once the signal has arrived");
    assert.deepEqual(events, ["started"], "nothing stops while a request is in flight");
    finish();
    assert.equal(await answered, 200);
    assert.equal(await fake.exited, 0);
    assert.deepEqual(events, ["started", "request answered", "controller stopped", "follower stopped", "workers stopped"]);
    assert.deepEqual(messages.filter((message) => /listening|stopping|shut/.test(message)), [
      "test service listening",
      "stopping: the test says so",
      "shutting down: finishing in-flight requests",
      "shut down",
    ]);
  });

  test("a part that fails to stop does not keep the others running; the exit code is 1", async () => {
    const { events, messages, log, app, step } = harness();
    const fake = new FakeProcess();
    await runUntilSignal({ app, name: "test service", address, log, start: () => Promise.resolve(), stops: [step("controller", true), step("workers")] }, fake);
    fake.emit("SIGINT");
    assert.equal(await fake.exited, 1);
    assert.deepEqual(events, ["controller stopped", "workers stopped"]);
    assert.ok(messages.includes("a part failed to stop; stopping the others"), JSON.stringify(messages));
    assert.ok(messages.includes("shutting down failed"), JSON.stringify(messages));
    assert.ok(!messages.includes("shut down"), "not reported down when a part failed to stop");
  });

  test("a failed start-up stops what started, closes the server and throws its error; the process is not exited", async () => {
    const { events, log, app, step, url } = harness();
    const fake = new FakeProcess();
    const startup = runUntilSignal(
      {
        app,
        name: "test service",
        address,
        log,
        start: () => {
          events.push("follower started");
          return Promise.reject(new Error("another faceops controller holds the store"));
        },
        stops: [step("controller"), step("follower")],
      },
      fake,
    );
    await assert.rejects(startup, /another faceops controller holds the store/);
    assert.deepEqual(events, ["follower started", "controller stopped", "follower stopped"]);
    assert.match(url(), /^http:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(fetch(`${url()}/slow`), "the server is closed");
    let exitCode: number | null = null;
    void fake.exited.then((code) => (exitCode = code));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(exitCode, null, "the caller reports the error and sets the exit code, as for any command");
  });
});
