// Types of layers.js, which stays JavaScript so that eslint.config.js can import it without a loader.
import type { ESLint } from "eslint";

/** Rows of the layer table, top first; each entry is a folder of src/ (or a file, for src/log.ts). */
export declare const layers: readonly (readonly string[])[];
/** The row of a path relative to src/ ("model/face/crop.ts"), or null when it is in no row. */
export declare function rowOf(pathInSrc: string): { row: number; name: string } | null;
export declare const layersPlugin: ESLint.Plugin;
/** The package a bare import specifier names: "@scope/name/sub" -> "@scope/name", "name/sub" -> "name". */
export declare function packageOf(specifier: string): string;
