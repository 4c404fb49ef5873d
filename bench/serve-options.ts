/**
 * The options of `npm run bench -- serve`, for short development runs:
 *
 *   --duration=<s>        measured seconds per level (default 12; VGG16's levels and the face backbone's
 *                         1-face levels at least 30, see serve.ts)
 *   --warmup=<s>          seconds of load before each measured window, not measured (default 3)
 *   --levels=<c,...>      concurrency levels for every part (default 1,8,32 for VGG16, 8,32 for the face backbone)
 *   --parts=<part,...>    which parts run: fp32, int8 (VGG16), faces (the face backbone, one worker
 *                         and the default, 1- and 4-face photos), capture (default all)
 *
 * The flags are written with "=" so bench/run.ts does not take their values for benchmark names.
 */
import { parseArgs } from "node:util";

export const serveParts = ["fp32", "int8", "faces", "capture"] as const;
export type ServePart = (typeof serveParts)[number];

export interface ServeBenchOptions {
  /** Measured seconds per level, the warm-up excluded. */
  seconds: number;
  warmupSeconds: number;
  vgg16Levels: readonly number[];
  faceLevels: readonly number[];
  parts: ReadonlySet<ServePart>;
}

/** The options from `npm run bench -- serve --duration=12 ...`; other arguments (benchmark names) are left alone. */
export function serveBenchOptions(args: readonly string[]): ServeBenchOptions {
  const { values } = parseArgs({
    args: [...args],
    strict: false,
    allowPositionals: true,
    options: { duration: { type: "string" }, warmup: { type: "string" }, levels: { type: "string" }, parts: { type: "string" } },
  });
  const levels = values.levels === undefined ? null : listOf("--levels", values.levels).map(concurrency);
  return {
    seconds: values.duration === undefined ? 12 : secondsOf("--duration", values.duration, { zero: false }),
    warmupSeconds: values.warmup === undefined ? 3 : secondsOf("--warmup", values.warmup, { zero: true }),
    vgg16Levels: levels ?? [1, 8, 32],
    faceLevels: levels ?? [8, 32],
    parts: new Set(values.parts === undefined ? serveParts : listOf("--parts", values.parts).map(knownPart)),
  };
}

/** A flag's comma-separated values; a flag written without "=<value>" (parsed as true) is refused. */
function listOf(flag: string, value: string | boolean): string[] {
  if (typeof value !== "string" || value === "") throw new RangeError(`serve bench: ${flag} takes a value after "=", e.g. ${flag}=8,32; received ${String(value)}`);
  return value.split(",");
}

function secondsOf(flag: string, value: string | boolean, allow: { zero: boolean }): number {
  const seconds = typeof value === "string" && value !== "" ? Number(value) : NaN;
  if (!Number.isFinite(seconds) || seconds < 0 || (seconds === 0 && !allow.zero)) {
    throw new RangeError(`serve bench: ${flag} takes a number of seconds${allow.zero ? "" : " above 0"} after "="; received ${String(value)}`);
  }
  return seconds;
}

function concurrency(level: string): number {
  const number = Number(level);
  if (level === "" || !Number.isInteger(number) || number < 1 || number > 256) throw new RangeError(`serve bench: --levels takes concurrencies from 1 to 256 separated by commas; received "${level}"`);
  return number;
}

function knownPart(part: string): ServePart {
  if (!(serveParts as readonly string[]).includes(part)) throw new RangeError(`serve bench: --parts takes ${serveParts.join(", ")} separated by commas; received "${part}"`);
  return part as ServePart;
}
