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
import { dirname, relative, resolve } from "node:path";

export const layers = [
  ["cli"],
  ["controller", "serve", "training"],
  ["platform"],
  ["metrics"],
  ["records"],
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
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === "Literal" && check(node, node.source.value),
    };
  },
};

export const layersPlugin = { rules: { "no-upward-import": noUpwardImport } };
