import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

/**
 * faceops' alerting rules as Prometheus itself reads them. The rules ship as a PrometheusRule (the
 * Prometheus Operator's resource, k8s/monitoring/prometheusrule.yaml); Prometheus and promtool read
 * plain rules files, `groups:` at the top. Both the promtool unit tests of the alerts and the tests
 * that load them into a real Prometheus go through here, so they test the rules that ship.
 */

/** The PrometheusRule the monitoring kustomization applies. */
export const prometheusRulePath = fileURLToPath(new URL("../../k8s/monitoring/prometheusrule.yaml", import.meta.url));

/** One rule of a group: an alert (`alert`) or a recording rule (`record`), as Prometheus' rules files spell it. */
export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A rule group: its rules are evaluated together, every `interval` (else Prometheus' global one). */
export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

/** `spec.groups` of the PrometheusRule at `path`; throws, naming the file, if it is not one. */
export function readPrometheusRuleGroups(path: string = prometheusRulePath): RuleGroup[] {
  const resource = parse(readFileSync(path, "utf8")) as { kind?: unknown; spec?: { groups?: unknown } } | null;
  if (resource?.kind !== "PrometheusRule") throw new Error(`${path} is not a PrometheusRule (kind: ${String(resource?.kind)})`);
  const groups = resource.spec?.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${path} has no spec.groups`);
  for (const group of groups as RuleGroup[]) {
    if (typeof group.name !== "string" || !Array.isArray(group.rules)) throw new Error(`${path}: a group needs a name and rules (got ${JSON.stringify(group).slice(0, 80)})`);
  }
  return groups as RuleGroup[];
}

/** The alerts of rule groups, in order (recording rules left out). */
export function alertRules(groups: readonly RuleGroup[]): Array<Rule & { alert: string }> {
  return groups.flatMap((group) => group.rules.filter((rule): rule is Rule & { alert: string } => typeof rule.alert === "string"));
}

/**
 * Writes the PrometheusRule's groups to `dir` as a plain rules file (for `rule_files:` of a
 * Prometheus configuration or of a promtool test) and returns its path.
 */
export async function writeRulesFile(dir: string, fileName = "faceops.rules.yaml"): Promise<string> {
  const path = join(dir, fileName);
  await writeFile(path, stringify({ groups: readPrometheusRuleGroups() }));
  return path;
}
