import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Registry } from "prom-client";
import { stringify } from "yaml";
import { createControllerMetrics } from "../../src/metrics/controller-metrics.js";
import { createServeMetrics } from "../../src/metrics/serve-metrics.js";
import { promtoolPath } from "./promtool.js";

/**
 * PromQL checks shared by the alerting rules' and the dashboard's tests: which metrics an expression
 * reads, which ones faceops declares, Grafana's variables turned into PromQL, and promtool's verdict.
 */

const run = promisify(execFile);

/** The metric names a PromQL expression reads: faceops_*, http_* and request_* (label values and strings excluded). */
export function referencedMetrics(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/\b(?:faceops|http|request)_[A-Za-z0-9_:]*/g)].map((match) => match[0]);
}

/** Every series name faceops exposes: the serving and controller metrics, with histogram suffixes. */
export async function exposedSeries(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const registry of [createServeMetrics(new Registry(), { defaultMetrics: false }).registry, createControllerMetrics(new Registry()).registry]) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === "histogram") for (const suffix of ["_bucket", "_count", "_sum"]) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

/**
 * A Grafana panel's expression as Prometheus receives it: Grafana's interval variables become a
 * duration. Any other `$` is left in place, so promtool (or a test) rejects Grafana-only syntax.
 */
export function grafanaExprToPromQL(expr: string, duration = "5m"): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, duration);
}

/** `promtool check rules` on rule groups, in a file of its own: promtool's output, or an error with its own words. */
export async function promtoolCheckRules(groups: unknown, name: string): Promise<string> {
  if (!existsSync(promtoolPath)) throw new Error(`this test needs promtool at ${promtoolPath}: apt-get install -y prometheus (or set PROMTOOL_PATH)`);
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
