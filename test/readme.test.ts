import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { configKeys, envNameForKey } from "../src/config/load.js";
import { rejectReasons } from "../src/dataset/rejects.js";

const readme = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");

test("README documents every configuration key with its environment variable", () => {
  for (const key of configKeys()) {
    const row = new RegExp(`^\\| \`${key.replace(/\./g, "\\.")}\` \\| \`${envNameForKey(key)}\` \\|`, "m");
    assert.match(readme, row, `README has no row for ${key}`);
  }
});

test("README documents every reject reason code", () => {
  for (const reason of Object.keys(rejectReasons)) assert.match(readme, new RegExp(`^\\| \`${reason}\` \\|`, "m"), reason);
});

test("README's test command is the one .ci/run runs", () => {
  const ci = readFileSync(resolve(import.meta.dirname, "../.ci/run"), "utf8");
  assert.match(readme, /^npm test +#/m);
  assert.match(ci, /^npm test$/m);
});
