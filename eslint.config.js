// @ts-check
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";
import { layersPlugin } from "./tools/eslint/layers.js";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".faceops/", "faces/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.js", "scripts/*.mjs", "tools/eslint/*.js", "test/helpers/*.mjs"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      // node:test's test() and describe() return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] }] },
      ],
      "no-restricted-properties": ["error", { object: "process", property: "exit", message: "Only src/cli may exit the process." }],
    },
  },
  {
    // The layer table of src/ (tools/eslint/layers.js): an import that runs upward fails lint, and so
    // does a package the image does not ship (a devDependency).
    files: ["src/**/*.ts"],
    plugins: { layers: layersPlugin },
    rules: { "layers/no-upward-import": "error", "layers/shipped-packages-only": "error" },
  },
  {
    files: ["src/cli/**", "scripts/**", "bench/**", "test/**"],
    rules: { "no-restricted-properties": "off" },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node },
  },
);
