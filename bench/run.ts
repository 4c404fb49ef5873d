/**
 * `npm run bench [-- <name>...]`: runs the benchmarks, each beside its peer in the same invocation,
 * prints a table and writes bench/results/<name>.json. Performance is measured here, never in tests.
 *
 * One benchmark runs in this process; several run one after the other, each in its own process (this
 * script again, with its name), so that what one leaves behind cannot change another's figures or
 * keep the run from ending. TensorFlow.js's wasm heap, for one, stays at its largest for the life
 * of a process (WebAssembly memory never shrinks: 244 MiB after the vgg16 benchmark's TensorFlow.js
 * row), and the train benchmark's peak memory is its process's: in the one-process run of 2026-12-05
 * it began at ~680 MiB RSS, against ~125 MiB in a process of its own, and read 1,661 MiB.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchDatasetCheck } from "./dataset-check.js";
import { benchFaceEmbeddingEngines } from "./face-embedding-engines.js";
import { benchPush, pushOptions } from "./push.js";
import type { BenchResult } from "./result.js";
import { benchmarkArguments, benchPlan } from "./run-plan.js";
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

const args = process.argv.slice(2);
const plan = benchPlan(args, Object.keys(benchmarks), pushOptions);
if (plan.unknown.length > 0) {
  console.error(`unknown benchmark(s): ${plan.unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`);
  process.exit(1);
}
if (plan.names.length === 1) await runHere(plan.names[0] as string, plan.options);
else await runEachAlone(plan.names);

/** Runs one benchmark in this process, prints its table and writes its result. */
async function runHere(name: string, options: BenchOptions): Promise<void> {
  const outputDir = join(import.meta.dirname, "results");
  await mkdir(outputDir, { recursive: true });
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

/**
 * Runs each benchmark in a process of its own, one after the other; a benchmark that fails does not
 * stop the others, and the run then ends with 1, naming it. Ctrl-C reaches the running benchmark
 * from the terminal (the push benchmark stops its faceops up on it); a SIGTERM sent to this process
 * alone is passed on to it. Either way no further benchmark starts, and the run ends with 128 + the
 * signal's number, as a shell reports a process ended by it.
 */
async function runEachAlone(names: readonly string[]): Promise<void> {
  let running: ChildProcess | null = null;
  // An object, not a variable: the handlers set it while the loop awaits.
  const stop: { by: NodeJS.Signals | null } = { by: null };
  const onInterrupt = () => (stop.by = "SIGINT");
  const onTerminate = () => {
    stop.by = "SIGTERM";
    running?.kill("SIGTERM");
  };
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onTerminate);
  const failed: string[] = [];
  try {
    for (const name of names) {
      if (stop.by) break;
      const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), fileURLToPath(import.meta.url), ...benchmarkArguments(name, args, pushOptions)], { stdio: "inherit" });
      running = child;
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
        child.once("error", (error) => {
          console.error(`bench ${name}: could not start its process: ${error.message}`);
          done({ code: null, signal: null });
        });
        child.once("exit", (code, signal) => done({ code, signal }));
      });
      running = null;
      if (exit.code !== 0) failed.push(`${name} (${exit.signal ? `ended by ${exit.signal}` : exit.code === null ? "not started" : `exit code ${exit.code}`})`);
    }
  } finally {
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onTerminate);
  }
  if (stop.by) {
    console.error(`bench: stopped by ${stop.by}${failed.length > 0 ? `; failed: ${failed.join(", ")}` : ""}`);
    process.exitCode = 128 + osConstants.signals[stop.by];
  } else if (failed.length > 0) {
    console.error(`bench: ${failed.length} of ${names.length} benchmarks failed: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}
