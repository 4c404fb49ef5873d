import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * The pure half of bench/run.ts: which benchmarks a command line asks for, and the command line of
 * each one's own process. Every benchmark reads its own options out of the whole command line
 * (push: --people 8; serve: --duration=4), so a benchmark's process gets every option given, with
 * the names of the other benchmarks left out.
 */

export interface BenchPlan {
  /** The benchmarks to run, in the order given, or all of them in their own order when none is named. */
  names: string[];
  /** The parsed options, handed to a benchmark run in this process. */
  options: Record<string, string | boolean | undefined>;
  /** Names given that are no benchmark. */
  unknown: string[];
}

/**
 * `options`: the options some benchmark declares with a value (push's --people), so that the value
 * of `--people 8` is never taken for a benchmark's name; undeclared ones are left to their benchmark.
 */
export function benchPlan(args: readonly string[], known: readonly string[], options: NonNullable<ParseArgsConfig["options"]>): BenchPlan {
  const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals: true, strict: false });
  const unknown = positionals.filter((name) => !known.includes(name));
  return { names: positionals.length > 0 ? positionals : [...known], options: values, unknown };
}

/** The arguments of the process that runs benchmark `name` alone: its name, then every option of `args`, in order. */
export function benchmarkArguments(name: string, args: readonly string[], options: NonNullable<ParseArgsConfig["options"]>): string[] {
  const { tokens } = parseArgs({ args: [...args], options, allowPositionals: true, strict: false, tokens: true });
  // A declared option written "--people 8" spans two arguments: the token says where it starts, the value where it ends.
  const kept: string[] = [];
  for (const token of tokens) {
    // Positionals are benchmark names (the others' are not this process's); "--" ends the options.
    if (token.kind !== "option") continue;
    kept.push(args[token.index] as string);
    if (token.value !== undefined && !token.inlineValue) kept.push(token.value);
  }
  return [name, ...kept];
}
