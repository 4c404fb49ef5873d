// @ts-check
/**
 * The layer table of src/, as ARCHITECTURE.md's "Layers" draws it, and an ESLint rule that holds the
 * code to it: a module may import modules of the rows below its own, never of a row above it, nor of
 * a sibling on its own row (the controller, the inference service and the training attempt are three
 * programs over the same layers, not parts of each other). An import that runs upward is a design
 * bug: the rule names both ends and both rows.
 *
 * Rows, top first; each entry is a folder of src/ (or a file, for src/log.ts).
 */
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

export const layers = [
  ["cli"],
  ["controller", "serve", "training"],
  ["platform"],
  ["metrics"],
  ["records", "review"],
  ["tuning"],
  ["model"],
  ["dataset"],
  ["vision", "config", "store", "http"],
  ["util", "log"],
];

/** The row of a path relative to src/ ("model/face/crop.ts"), or null when it is in no row. */
export function rowOf(pathInSrc) {
  const top = pathInSrc.split(/[\\/]/)[0]?.replace(/\.(js|ts)$/, "") ?? "";
  const row = layers.findIndex((names) => names.includes(top));
  return row === -1 ? null : { row, name: top };
}

/** @type {import("eslint").Rule.RuleModule} */
const noUpwardImport = {
  meta: {
    type: "problem",
    docs: { description: "Imports follow the layer table of src/ (tools/eslint/layers.js): down only, never up or sideways." },
    schema: [],
    messages: {
      upward: "{{from}} (row {{fromRow}}) may not import {{to}} (row {{toRow}}): imports run down the layer table in tools/eslint/layers.js, never up.",
      sideways: "{{from}} may not import {{to}}: they are siblings on row {{fromRow}} of the layer table (tools/eslint/layers.js); share what both need from a lower row.",
      unplaced: "{{from}} is in no row of the layer table: add its folder to tools/eslint/layers.js.",
      outside: "{{from}} may not import {{to}}: src/ ships without tools/, test/ and bench/.",
    },
  },
  create(context) {
    const file = context.filename;
    const src = resolve(context.cwd, "src");
    const inSrc = relative(src, file);
    if (inSrc.startsWith("..") || inSrc === file) return {};
    const from = rowOf(inSrc);
    const check = (/** @type {import("estree").Node} */ node, /** @type {unknown} */ specifier) => {
      if (typeof specifier !== "string" || !specifier.startsWith(".")) return;
      if (!from) {
        context.report({ node, messageId: "unplaced", data: { from: `src/${inSrc}` } });
        return;
      }
      const target = relative(src, resolve(dirname(file), specifier));
      if (target.startsWith("..")) {
        context.report({ node, messageId: "outside", data: { from: `src/${inSrc}`, to: relative(context.cwd, resolve(dirname(file), specifier)) } });
        return;
      }
      const to = rowOf(target);
      if (!to || to.name === from.name) return;
      const data = { from: `src/${inSrc}`, to: `src/${target}`, fromRow: String(from.row + 1), toRow: String(to.row + 1) };
      if (to.row < from.row) context.report({ node, messageId: "upward", data });
      else if (to.row === from.row) context.report({ node, messageId: "sideways", data });
    };
    return visitImports(check);
  },
};

/**
 * The visitors of every node that loads a module by name: import and export ... from, and import()
 * of a literal. `check` gets the node, the specifier and whether only types are loaded (erased).
 * @param {(node: import("estree").Node, specifier: unknown, typeOnly: boolean) => void} check
 * @returns {import("eslint").Rule.RuleListener}
 */
function visitImports(check) {
  /** @param {any} node */
  const typeOnly = (node) => node.importKind === "type" || node.exportKind === "type";
  return {
    ImportDeclaration: (node) => check(node, node.source.value, typeOnly(node)),
    ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, typeOnly(node)),
    ExportAllDeclaration: (node) => check(node, node.source.value, typeOnly(node)),
    ImportExpression: (node) => node.source.type === "Literal" && check(node, node.source.value, false),
  };
}

/** The package a bare specifier names: "@scope/name/sub" -> "@scope/name", "name/sub" -> "name". */
export function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/**
 * The packages src/ may load at run time: package.json's dependencies and optionalDependencies. The
 * service image runs `npm prune --omit=dev`, so a devDependency imported from src/ works in tests
 * and fails in production. Type-only imports are erased by the compiler and may name any package.
 */
/** @type {import("eslint").Rule.RuleModule} */
const shippedPackagesOnly = {
  meta: {
    type: "problem",
    docs: { description: "src/ loads only node: builtins and the packages package.json ships (dependencies, optionalDependencies)." },
    schema: [],
    messages: {
      unshipped: "src/{{from}} loads {{name}}, which package.json does not ship (not in dependencies or optionalDependencies): the image prunes devDependencies.",
    },
  },
  create(context) {
    const file = context.filename;
    const inSrc = relative(resolve(context.cwd, "src"), file);
    if (inSrc.startsWith("..") || inSrc === file) return {};
    const manifest = JSON.parse(readFileSync(join(context.cwd, "package.json"), "utf8"));
    const shipped = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {})]);
    const check = (/** @type {import("estree").Node} */ node, /** @type {unknown} */ specifier, typeOnly = false) => {
      if (typeOnly || typeof specifier !== "string" || specifier.startsWith(".") || specifier.startsWith("/")) return;
      if (specifier.startsWith("node:") || builtinModules.includes(specifier.split("/")[0] ?? "")) return;
      const name = packageOf(specifier);
      if (!shipped.has(name)) context.report({ node, messageId: "unshipped", data: { from: inSrc, name } });
    };
    return visitImports(check);
  },
};

export const layersPlugin = { rules: { "no-upward-import": noUpwardImport, "shipped-packages-only": shippedPackagesOnly } };
