#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test and tsx. Node 20's test runner does not expand globs,
// so this script finds the files. Extra arguments filter by path substring: `npm test -- dataset`.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests("test")
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}
const reporter = process.env.CI ? ["--test-reporter=spec"] : [];
// The guard makes a unit test (test/unit/) that starts a process, a server or a worker fail at once.
const guard = new URL("../test/helpers/unit-tier-guard.mjs", import.meta.url).href;
const child = spawn(process.execPath, ["--import", "tsx", "--import", guard, "--test", "--test-concurrency=2", ...reporter, ...files], {
  stdio: "inherit",
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
