import { Registry } from "prom-client";
import { createControllerMetrics } from "../../src/metrics/controller-metrics.js";
import { createServeMetrics } from "../../src/metrics/serve-metrics.js";

/**
 * PromQL checks shared by the alerting rules' and the dashboard's tests: which metrics an expression
 * reads, which ones faceops declares, and Grafana's variables turned into PromQL.
 */

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
