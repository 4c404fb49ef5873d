import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { promtool } from "./tools.js";

/** Debian's prometheus package installs promtool; .ci/run installs the package. Tests check `requires(t, promtool)` first. */
export const promtoolPath = promtool.path;

const notInstalled = () => new Error(`this test needs ${promtool.what}: ${promtool.howToGet}`);

/** `promtool check metrics` on an exposition text: its exit status and everything it printed. */
export function promtoolCheckMetrics(exposition: string): Promise<{ status: number | null; output: string }> {
  if (!promtool.available()) throw notInstalled();
  return new Promise((resolve, reject) => {
    const child = spawn(promtoolPath, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, output }));
    child.stdin.end(exposition);
  });
}

const run = promisify(execFile);

/** `promtool check rules` on rule groups, in a file of its own: promtool's output, or an error with its own words. */
export async function promtoolCheckRules(groups: unknown, name: string): Promise<string> {
  if (!promtool.available()) throw notInstalled();
  const dir = await mkdtemp(join(tmpdir(), "faceops-promtool-"));
  const file = join(dir, `${name}.rules.yaml`);
  try {
    await writeFile(file, stringify({ groups }));
    const { stdout } = await run(promtoolPath, ["check", "rules", file]);
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool check rules ${name}:\n${stdout ?? ""}${stderr ?? ""}`, { cause: error });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
