import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { runProcess } from "./process.js";

const main = resolve(import.meta.dirname, "../../src/cli/main.ts");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `faceops` entry point in a child process, as a user or another tool would. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  const result = spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), main, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** runCli without blocking this process, for commands that talk to a server the test runs. */
export function runCliAsync(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return runProcess(process.execPath, ["--import", import.meta.resolve("tsx"), main, ...args], options);
}
