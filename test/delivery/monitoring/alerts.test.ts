import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse, parseDocument } from "yaml";
import { alertRules, readPrometheusRuleGroups, writeRulesFile } from "../../helpers/prometheus-rules.js";
import { declaredLabels, undeclaredLabels } from "../../helpers/promql.js";
import { promtoolPath } from "../../helpers/promtool.js";
import { promtool, requires } from "../../helpers/tools.js";

/**
 * The alerts of k8s/monitoring/prometheusrule.yaml under `promtool test rules`: the cases are the
 * YAML files in k8s/monitoring/tests/ (promtool's own format), run against the rules that ship.
 * promtool reads plain rules files and resolves rule_files beside the test file, so each test file
 * is copied next to a rules file written from the PrometheusRule, its rule_files pointing there.
 */

const run = promisify(execFile);
const casesDir = fileURLToPath(new URL("../../../k8s/monitoring/tests/", import.meta.url));
const caseFiles = readdirSync(casesDir)
  .filter((name) => name.endsWith(".test.yaml"))
  .sort()
  .map((name) => join(casesDir, name));

/** The parts of promtool's unit test format this test reads. */
interface UnitTestFile {
  rule_files?: string[];
  tests?: Array<{
    name?: string;
    input_series?: Array<{ series: string }>;
    alert_rule_test?: Array<{ eval_time: string; alertname: string; exp_alerts?: unknown[] | null }>;
  }>;
}

interface AlertCase {
  file: string;
  test: string;
  evalTime: string;
  alertname: string;
  fires: boolean;
}

function alertCases(): AlertCase[] {
  return caseFiles.flatMap((file) => {
    const unit = parse(readFileSync(file, "utf8")) as UnitTestFile;
    return (unit.tests ?? []).flatMap((entry, index) =>
      (entry.alert_rule_test ?? []).map((check) => ({
        file: basename(file),
        test: entry.name ?? `test #${index + 1}`,
        evalTime: check.eval_time,
        alertname: check.alertname,
        fires: (check.exp_alerts ?? []).length > 0,
      })),
    );
  });
}

/** Runs promtool on one case file; resolves with its output, or fails the test with it. */
async function promtoolTestRules(caseFile: string, dir: string, rulesFile: string): Promise<string> {
  const document = parseDocument(readFileSync(caseFile, "utf8"));
  document.set("rule_files", [basename(rulesFile)]);
  const copy = join(dir, basename(caseFile));
  await writeFile(copy, document.toString());
  try {
    const { stdout, stderr } = await run(promtoolPath, ["test", "rules", copy], { maxBuffer: 16 * 1024 * 1024 });
    return stdout + stderr;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    return assert.fail(`promtool test rules ${basename(caseFile)} failed:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

describe("alerting rules (promtool test rules)", () => {
  const alerts = alertRules(readPrometheusRuleGroups()).map((rule) => rule.alert);
  const cases = alertCases();

  test("k8s/monitoring/tests holds promtool cases", () => {
    assert.ok(caseFiles.length > 0, `no *.test.yaml in ${casesDir}`);
    assert.ok(alerts.length > 0, "the PrometheusRule has alerts");
  });

  test("every alert of the PrometheusRule has a case where it fires and one where it stays quiet", () => {
    const firing = new Set(cases.filter((entry) => entry.fires).map((entry) => entry.alertname));
    const quiet = new Set(cases.filter((entry) => !entry.fires).map((entry) => entry.alertname));
    assert.deepEqual(
      alerts.filter((alert) => !firing.has(alert)),
      [],
      "alerts without a case where they fire (add one to k8s/monitoring/tests/alerts.test.yaml, with exp_labels and exp_annotations)",
    );
    assert.deepEqual(alerts.filter((alert) => !quiet.has(alert)), [], "alerts without a case where they stay quiet (exp_alerts: [])");
  });

  test("every label an alert's expression names is one the series it reads carry", () => {
    const labels = declaredLabels();
    const problems = alertRules(readPrometheusRuleGroups()).flatMap((rule) => undeclaredLabels(String(rule.expr), labels).map((problem) => `${rule.alert}: ${problem}`));
    assert.deepEqual(problems, []);
  });

  test("the cases' input series carry the labels faceops exposes, not stale ones", () => {
    const labels = declaredLabels();
    const problems = caseFiles.flatMap((file) =>
      ((parse(readFileSync(file, "utf8")) as UnitTestFile).tests ?? []).flatMap((entry) =>
        (entry.input_series ?? []).flatMap(({ series }) => undeclaredLabels(series, labels).map((problem) => `${basename(file)}: ${entry.name ?? "?"}: ${problem}`)),
      ),
    );
    assert.deepEqual(problems, []);
  });

  test("every case names an alert of the PrometheusRule", () => {
    const known = new Set(alerts);
    const stale = cases.filter((entry) => !known.has(entry.alertname)).map((entry) => `${entry.file}: ${entry.test} (${entry.alertname})`);
    assert.deepEqual(stale, [], "cases of alerts the PrometheusRule no longer has");
  });

  test("promtool test rules passes every case", async (t) => {
    if (!requires(t, promtool)) return;
    const dir = await mkdtemp(join(tmpdir(), "faceops-alerts-"));
    try {
      const rulesFile = await writeRulesFile(dir);
      // One promtool per file, in parallel: each evaluates every rule over its cases' whole span.
      const outputs = await Promise.all(caseFiles.map((file) => promtoolTestRules(file, dir, rulesFile)));
      for (const output of outputs) assert.match(output, /SUCCESS/);
      t.diagnostic(`promtool ran ${cases.length} checks (${cases.filter((entry) => entry.fires).length} firing) of ${alerts.length} alerts from ${caseFiles.length} files`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
