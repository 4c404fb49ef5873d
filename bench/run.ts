/**
 * `npm run bench [-- <name>...]`: runs the benchmarks, each beside its peer in the same invocation,
 * prints a table and writes bench/results/<name>.json. Performance is measured here, never in tests.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchDatasetCheck } from "./dataset-check.js";
import { benchFaceEmbeddingEngines } from "./face-embedding-engines.js";
import { benchPush, pushOptions } from "./push.js";
import type { BenchResult } from "./result.js";
import { benchServe } from "./serve.js";
import { benchTrain } from "./train.js";
import { benchVgg16Forward } from "./vgg16-forward.js";

/** Options, parsed here and handed to every benchmark: each reads its own (push: --people, --poll-interval). */
type BenchOptions = Record<string, string | boolean | undefined>;

const benchmarks: Record<string, (options: BenchOptions) => Promise<BenchResult>> = {
  dataset: benchDatasetCheck,
  vgg16: benchVgg16Forward,
  "face-engines": benchFaceEmbeddingEngines,
  train: benchTrain,
  // The serve benchmark reads its own --name=value flags from the command line (serve-options.ts).
  serve: () => benchServe(),
  push: benchPush,
};

// Declared options take their value (--people 8), so a value is never taken for a benchmark's name; others are left alone.
const { values: options, positionals: selected } = parseArgs({ args: process.argv.slice(2), options: { ...pushOptions }, allowPositionals: true, strict: false });
const unknown = selected.filter((name) => !(name in benchmarks));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`);
  process.exit(1);
}
const outputDir = join(import.meta.dirname, "results");
await mkdir(outputDir, { recursive: true });
for (const name of selected.length > 0 ? selected : Object.keys(benchmarks)) {
  const result = await (benchmarks[name] as (options: BenchOptions) => Promise<BenchResult>)(options);
  console.log(`\n## ${result.name}\n`);
  const width = Math.max(...result.rows.map((row) => row.metric.length));
  for (const row of result.rows) {
    const value = Number.isInteger(row.value) ? String(row.value) : row.value.toFixed(row.value < 10 ? 3 : 1);
    console.log(`${row.metric.padEnd(width)}  ${value.padStart(10)} ${row.unit}${row.note ? `  (${row.note})` : ""}`);
  }
  const stamped = { ...result, measuredAt: new Date().toISOString(), node: process.version };
  await writeFile(join(outputDir, `${name}.json`), `${JSON.stringify(stamped, null, 2)}\n`);
}
