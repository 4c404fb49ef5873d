import { collectDefaultMetrics, type Registry } from "prom-client";

/**
 * prom-client's gauges that end in _total, which Prometheus reserves for counters (promtool check
 * metrics fails on them). Each is the sum of a gauge by type that stays: nodejs_active_handles,
 * nodejs_active_requests and nodejs_active_resources.
 */
const misnamedDefaultMetrics = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** The process' own metrics (CPU, memory, event loop lag, handles) that every faceops server exposes, without the misnamed ones. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of misnamedDefaultMetrics) registry.removeSingleMetric(name);
}
