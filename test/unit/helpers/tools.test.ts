import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test, type TestContext } from "node:test";
import { requires, skipUnless, unmet, type Requirement } from "../../helpers/tools.js";

/**
 * The one rule for what a test needs from the machine (test/helpers/tools.ts): under CI a missing
 * requirement fails, elsewhere the test skips and says so.
 */

const present: Requirement = { what: "a tool that is here", howToGet: "nothing to do", available: () => true };
const absent: Requirement = { what: "frobnicate at /nowhere/frobnicate", howToGet: "apt-get install -y frobnicate", available: () => false };

/** A stand-in for node:test's context that records the skip it is given. */
function recordingContext(): { context: TestContext; skipped: string[] } {
  const skipped: string[] = [];
  const context = { name: "a test that needs frobnicate", skip: (message?: string) => skipped.push(message ?? "") } as unknown as TestContext;
  return { context, skipped };
}

describe("missing tools: fail under CI, skip loudly elsewhere", () => {
  const saved = process.env.CI;
  const quiet = console.error;
  beforeEach(() => {
    console.error = () => undefined;
  });
  afterEach(() => {
    console.error = quiet;
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });

  test("names what is missing and how to get it, and nothing when all is there", () => {
    assert.equal(unmet([present]), null);
    assert.equal(unmet([present, absent]), "missing frobnicate at /nowhere/frobnicate (apt-get install -y frobnicate)");
  });

  test("a test with everything it needs goes on, CI or not", () => {
    for (const ci of ["true", undefined]) {
      if (ci === undefined) delete process.env.CI;
      else process.env.CI = ci;
      const { context, skipped } = recordingContext();
      assert.equal(requires(context, present), true);
      assert.deepEqual(skipped, []);
      assert.equal(skipUnless("a suite", present), false);
    }
  });

  test("under CI a missing requirement fails the test and the suite", () => {
    process.env.CI = "true";
    const { context, skipped } = recordingContext();
    assert.throws(() => requires(context, present, absent), /CI is set and this test needs what the machine lacks: missing frobnicate/);
    assert.deepEqual(skipped, []);
    assert.throws(() => skipUnless("a suite", absent), /CI is set and "a suite" needs .*apt-get install -y frobnicate/);
  });

  test("elsewhere it skips, saying what is missing, on stderr and in the skip reason", () => {
    delete process.env.CI;
    const lines: string[] = [];
    console.error = (line: string) => lines.push(line);
    const { context, skipped } = recordingContext();
    assert.equal(requires(context, absent), false);
    assert.deepEqual(skipped, ["SKIPPED LOUDLY: missing frobnicate at /nowhere/frobnicate (apt-get install -y frobnicate)"]);
    assert.equal(skipUnless("a suite", absent), "SKIPPED LOUDLY: missing frobnicate at /nowhere/frobnicate (apt-get install -y frobnicate)");
    assert.equal(lines.length, 2);
    assert.ok(lines.every((line) => line.includes("*** SKIPPED") && line.includes("frobnicate")), lines.join("\n"));
  });

  test("CI=false is not CI", () => {
    process.env.CI = "false";
    const { context } = recordingContext();
    assert.equal(requires(context, absent), false);
  });
});
