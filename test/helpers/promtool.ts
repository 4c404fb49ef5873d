import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian's prometheus package installs promtool here; .ci/run installs the package. */
export const promtoolPath = process.env.PROMTOOL_PATH ?? "/usr/bin/promtool";

/** `promtool check metrics` on an exposition text: its exit status and everything it printed. */
export function promtoolCheckMetrics(exposition: string): Promise<{ status: number | null; output: string }> {
  if (!existsSync(promtoolPath)) throw new Error(`this test needs promtool at ${promtoolPath}: apt-get install -y prometheus (or set PROMTOOL_PATH)`);
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
