import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import type { TestContext } from "node:test";

/**
 * What some tests need from the machine and the repository cannot install: a program, a device, root.
 *
 * One rule for all of them. Under CI (`CI` set, where .ci/run has installed everything) a missing
 * requirement fails the test, so a broken install can never pass as a skip. Anywhere else the test is
 * skipped, loudly: a line on stderr and the skip reason both say what is missing and how to get it.
 */
export interface Requirement {
  /** What is needed, as a reader would say it: "promtool at /usr/bin/promtool". */
  readonly what: string;
  /** How to get it on Debian, or how to point the tests at it. */
  readonly howToGet: string;
  readonly available: () => boolean;
}

/** A program at a fixed path (Debian's), which an environment variable may override. */
function programAt(name: string, variable: string, debianPath: string, howToGet: string): Requirement & { readonly path: string } {
  const path = process.env[variable] ?? debianPath;
  return { what: `${name} at ${path}`, howToGet: `${howToGet} (or set ${variable})`, available: () => existsSync(path), path };
}

/** A program found on the PATH. */
function programOnPath(name: string, howToGet: string): Requirement {
  return { what: `${name} on the PATH`, howToGet, available: () => spawnSync("sh", ["-c", `command -v ${name}`]).status === 0 };
}

export const promtool = programAt("promtool", "PROMTOOL_PATH", "/usr/bin/promtool", "apt-get install -y prometheus");
export const prometheus = programAt("prometheus", "PROMETHEUS_PATH", "/usr/bin/prometheus", "apt-get install -y prometheus");
export const chromium = programAt("Chromium", "CHROMIUM_PATH", "/usr/bin/chromium", "apt-get install -y chromium");
export const curl = programOnPath("curl", "apt-get install -y curl");
export const buildah = programOnPath("buildah", "apt-get install -y buildah");
export const podman = programOnPath("podman", "apt-get install -y podman runc");
export const debootstrap = programOnPath("debootstrap", "apt-get install -y debootstrap");
export const devFull = { what: "the /dev/full device", howToGet: "run on Linux, where /dev/full answers every write with ENOSPC", available: () => existsSync("/dev/full") } satisfies Requirement;
export const root = { what: "root", howToGet: "run the tests as root (CI does)", available: () => process.getuid?.() === 0 } satisfies Requirement;

/** The Java for npm-groovy-lint: $JAVA_HOME's, else the first `java` on the PATH that runs. Never a download. */
export function findJava(): { java: string; home: string } | null {
  const candidates = [process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin/java") : null, ...(process.env.PATH ?? "").split(delimiter).map((folder) => join(folder, "java"))];
  for (const candidate of candidates) {
    if (!candidate || !existsSync(candidate)) continue;
    const java = realpathSync(candidate);
    if (spawnSync(java, ["-version"], { encoding: "utf8" }).status === 0) return { java, home: dirname(dirname(java)) };
  }
  return null;
}

export const java: Requirement = {
  what: "Java 17 in $JAVA_HOME or on the PATH (npm-groovy-lint runs CodeNarc on it, and is never let to download one)",
  howToGet: "apt-get install -y openjdk-17-jre-headless",
  available: () => findJava() !== null,
};

/** Whether the tests run under CI, where every requirement must be met. */
export const underCi = (): boolean => Boolean(process.env.CI) && process.env.CI !== "false";

/** The message for the requirements not met, or null when all are. */
export function unmet(requirements: readonly Requirement[]): string | null {
  const missing = requirements.filter((requirement) => !requirement.available());
  if (missing.length === 0) return null;
  return `missing ${missing.map((requirement) => `${requirement.what} (${requirement.howToGet})`).join("; ")}`;
}

/**
 * For one test: true when every requirement is met. Otherwise, under CI, fails the test; elsewhere
 * skips it loudly and returns false, so the test returns at once: `if (!requires(t, promtool)) return;`.
 */
export function requires(t: TestContext, ...requirements: Requirement[]): boolean {
  const message = unmet(requirements);
  if (message === null) return true;
  if (underCi()) assert.fail(`CI is set and this test needs what the machine lacks: ${message}`);
  console.error(`\n*** SKIPPED: ${t.name}: ${message} ***\n`);
  t.skip(`SKIPPED LOUDLY: ${message}`);
  return false;
}

/**
 * For a whole describe(): the value of its `skip` option. Under CI a missing requirement throws when
 * the file loads, which fails the file; elsewhere the suite is skipped with a loud line on stderr.
 */
export function skipUnless(suite: string, ...requirements: Requirement[]): string | false {
  const message = unmet(requirements);
  if (message === null) return false;
  if (underCi()) throw new Error(`CI is set and "${suite}" needs what the machine lacks: ${message}`);
  console.error(`\n*** SKIPPED: ${suite}: ${message} ***\n`);
  return `SKIPPED LOUDLY: ${message}`;
}
