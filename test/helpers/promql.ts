import { Histogram, Registry } from "prom-client";
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

/** Labels every scraped series carries besides its own: Prometheus' and the ServiceMonitor's target labels. */
const targetLabels = new Set(["__name__", "job", "instance", "pod", "namespace", "service", "endpoint", "container"]);

/**
 * The label names of every series faceops exposes, by series name; a histogram's _bucket adds le.
 * prom-client keeps a metric's label names on the instance, outside its typings.
 */
export function declaredLabels(): Map<string, Set<string>> {
  const labels = new Map<string, Set<string>>();
  for (const registry of [createServeMetrics(new Registry(), { defaultMetrics: false }).registry, createControllerMetrics(new Registry()).registry]) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
      labels.set(name, new Set(labelNames));
      if (metric instanceof Histogram) {
        labels.set(`${name}_bucket`, new Set([...labelNames, "le"]));
        for (const suffix of ["_count", "_sum"]) labels.set(`${name}${suffix}`, new Set(labelNames));
      }
    }
  }
  return labels;
}

/**
 * The label names an expression uses that the faceops series it reads do not carry: in a series'
 * selector, a name that series lacks; in by, without, on, ignoring and group_left/right, a name
 * none of the series read carries. Target labels (job, pod, ...) are always there. A renamed label
 * still returns data in Prometheus (a `sum by (old)` is one series with old=""), so only this
 * check tells a stale label from a right one.
 */
export function undeclaredLabels(expr: string, declared: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const read = referencedMetrics(expr).filter((name) => declared.has(name));
  const known = (name: string, label: string) => targetLabels.has(label) || (declared.get(name)?.has(label) ?? false);
  const problems: string[] = [];
  for (const [, name = "", matchers = ""] of bare.matchAll(/\b((?:faceops|http|request)_[A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const [, label = ""] of matchers.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (declared.has(name) && !known(name, label)) problems.push(`${name} has no label ${label} (it has ${[...(declared.get(name) ?? [])].join(", ") || "none"})`);
    }
  }
  for (const [, clause = "", list = ""] of bare.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const label of list.split(",").map((item) => item.trim()).filter(Boolean)) {
      if (!read.some((name) => known(name, label))) problems.push(`${clause} (${label}): no series the expression reads (${read.join(", ")}) has the label ${label}`);
    }
  }
  return problems;
}
