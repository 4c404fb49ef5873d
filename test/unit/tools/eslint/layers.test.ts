import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { layers, layersPlugin, packageOf } from "../../../../tools/eslint/layers.js";

/**
 * The layer rule, on code planted in memory (no file is written): an import up the table, sideways
 * on a row, out of src/ or from a folder the table does not know fails; an import down passes. The
 * real tree is held to it by `npm run lint` (eslint.config.js).
 */

const root = resolve(import.meta.dirname, "../../../..");
const eslint = new ESLint({
  cwd: root,
  overrideConfigFile: true,
  overrideConfig: [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser }, plugins: { layers: layersPlugin }, rules: { "layers/no-upward-import": "error", "layers/shipped-packages-only": "error" } }],
});

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? []).map((message) => message.message);
}

describe("the layer table of src/", () => {
  test("an import up the table fails lint, naming both ends and rows", async () => {
    assert.deepEqual(await problems("src/model/planted.ts", 'import { decide } from "../controller/decide.js";\n'), [
      "src/model/planted.ts (row 7) may not import src/controller/decide.js (row 2): imports run down the layer table in tools/eslint/layers.js, never up.",
    ]);
    assert.equal((await problems("src/platform/local/planted.ts", 'export * from "../../controller/decide.js";\n')).length, 1);
    assert.equal((await problems("src/store/planted.ts", 'const platform = await import("../platform/types.js");\n')).length, 1);
  });

  test("siblings on a row do not import each other", async () => {
    const [message] = await problems("src/serve/planted.ts", 'import type { Controller } from "../controller/controller.js";\n');
    assert.match(message ?? "", /siblings on row 2/);
  });

  test("src/ imports nothing outside it, and every folder has a row", async () => {
    assert.match((await problems("src/store/planted.ts", 'import "../../tools/dashboard/generate.js";\n'))[0] ?? "", /src\/ ships without tools\//);
    assert.match((await problems("src/newthing/planted.ts", 'import "../util/random.js";\n'))[0] ?? "", /in no row of the layer table/);
  });

  test("imports down the table, within a folder and of packages pass", async () => {
    assert.deepEqual(await problems("src/cli/planted.ts", 'import "../model/predictor.js";\nimport "../controller/controller.js";\n'), []);
    assert.deepEqual(await problems("src/model/face/planted.ts", 'import "./crop.js";\nimport "../../dataset/scan.js";\nimport "node:fs";\nimport "sharp";\n'), []);
  });

  test("every folder and top-level module of src/ is on exactly one row", () => {
    const placed = layers.flat();
    assert.equal(new Set(placed).size, placed.length, "a name is on two rows");
    const present = readdirSync(join(root, "src")).map((name) => name.replace(/\.ts$/, ""));
    assert.deepEqual(present.filter((name) => !placed.includes(name)), [], "folders of src/ the table does not place");
  });

  test("src/ loads only the packages the image ships: a devDependency fails, a type-only import of one passes", async () => {
    assert.deepEqual(await problems("src/serve/planted.ts", 'import { Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";\n'), [
      "src/serve/planted.ts loads @grafana/grafana-foundation-sdk, which package.json does not ship (not in dependencies or optionalDependencies): the image prunes devDependencies.",
    ]);
    assert.equal((await problems("src/model/planted.ts", 'const tsx = await import("tsx");\n')).length, 1);
    assert.deepEqual(await problems("src/model/planted.ts", 'import type { Page } from "playwright-core";\nimport "@tensorflow/tfjs-node";\nimport "express";\nimport "node:fs";\nimport "fs/promises";\n'), []);
    assert.equal(packageOf("@scope/name/sub/path.js"), "@scope/name");
    assert.equal(packageOf("sharp"), "sharp");
  });
});
