import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";

/**
 * The unit tier's rule, held by test/helpers/unit-tier-guard.mjs (scripts/run-tests.mjs preloads it
 * into every test file's process): in a unit test, starting a process, a server or a worker fails at
 * once, naming the rule. Imported here as well, so the test holds however the file is run.
 */
await import("../../helpers/unit-tier-guard.mjs");

const rule = /a unit test may not .* belongs in test\/integration\//;

describe("the unit tier runs in its own process only", () => {
  test("no child process", () => {
    assert.throws(() => spawn("true"), rule);
    assert.throws(() => execFileSync("git", ["--version"]), /may not start a child process/);
  });

  test("no server", () => {
    assert.throws(() => createServer().listen(0, "127.0.0.1"), /may not listen on a port/);
  });

  test("no worker thread", () => {
    assert.throws(() => new Worker("process.exit(0)", { eval: true }), /may not start a worker thread/);
  });
});
