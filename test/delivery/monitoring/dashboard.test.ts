import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { createControllerMetrics } from "../../../src/metrics/controller-metrics.js";
import { createServeMetrics } from "../../../src/metrics/serve-metrics.js";
import { faceopsDashboard } from "../../../tools/dashboard/faceops-dashboard.js";
import { GrafanaSchemas, grafanaSchemaDir } from "../../helpers/grafana-schema.js";
import { declaredLabels, grafanaExprToPromQL, referencedMetrics, undeclaredLabels } from "../../helpers/promql.js";
import { promtoolCheckRules } from "../../helpers/promtool.js";
import { promtool, requires } from "../../helpers/tools.js";

/**
 * The Grafana dashboard tools/dashboard/faceops-dashboard.ts builds: the committed JSON is its output, it
 * matches Grafana's published JSON schemas for the SDK's version panel by panel, every panel says
 * what it shows, reads metrics faceops declares from the right job, and parses as PromQL (promtool).
 * test/k8s/manifests.test.ts checks the ConfigMap kustomize renders from the file.
 */

const root = fileURLToPath(new URL("../../../", import.meta.url));
const committedPath = "k8s/monitoring/faceops-dashboard.json";

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}

/** Each row's panels by title, with the series each must read. */
const requiredPanels: Record<string, Record<string, string[]>> = {
  Serving: {
    "Request rate by status": ["http_request_duration_seconds_count"],
    "Prediction latency": ["http_request_duration_seconds_bucket", "request_predict_seconds_bucket"],
    "Predictions by outcome": ["faceops_predictions_total"],
    "Score distribution": ["faceops_prediction_score_bucket"],
    "Unknown rate": ["faceops_unknown_predictions_total", "faceops_predictions_total"],
    "Batch size": ["faceops_inference_batch_size_bucket"],
    "In flight": ["faceops_http_requests_in_flight"],
    "Errors by reason": ["faceops_http_request_errors_total"],
    "Model load failures": ["faceops_model_load_failures_total"],
  },
  Model: {
    "Version in service": ["faceops_model_info", "faceops_deployed_model_info"],
    "Accuracy in service": ["faceops_deployed_model_accuracy"],
    "Dataset commit": ["faceops_deployed_model_info"],
    "Since the last promotion": ["faceops_deployed_model_promoted_timestamp_seconds"],
    "Dataset photos by split": ["faceops_dataset_photos"],
    "Rejected files": ["faceops_dataset_rejected_files"],
    "Untrained data age": ["faceops_dataset_untrained_since_timestamp_seconds"],
  },
  Training: {
    "Runs by outcome": ["faceops_runs_total"],
    "Attempts by outcome": ["faceops_attempts_total"],
    "Attempts per run": ["faceops_attempts_per_run_bucket"],
    "Attempt duration": ["faceops_attempt_duration_seconds_bucket"],
    "Accuracy per attempt": ["faceops_attempt_accuracy_bucket"],
    "Attempts pending": ["faceops_attempts_pending"],
    "Active runs": ["faceops_active_runs"],
    "Controller errors": ["faceops_controller_errors_total"],
  },
};

/** A histogram's series (name_bucket, _count, _sum) belong to the histogram's name. */
function metricName(series: string, histograms: ReadonlySet<string>): string {
  const base = series.replace(/_(bucket|count|sum)$/, "");
  return base !== series && histograms.has(base) ? base : series;
}

/** The expression with its strings emptied, so label values cannot pass for syntax. */
function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
}

/** Declared metric names and their types, one registry at a time, to tell whose job reads them. */
async function declared(registry: Registry): Promise<Map<string, string>> {
  return new Map((await registry.getMetricsAsJSON()).map((metric) => [metric.name, String(metric.type)]));
}

/** The row each panel sits under: the last row before it in the dashboard's list. */
function panelsByRow(dashboard: Dashboard): Map<string, Panel[]> {
  const rows = new Map<string, Panel[]>();
  let current: Panel[] | undefined;
  for (const panel of dashboard.panels) {
    if (panel.type === "row") rows.set(panel.title, (current = []));
    else {
      assert.ok(current, `${panel.title} sits under a row`);
      current.push(panel);
    }
  }
  return rows;
}

describe("Grafana dashboard", () => {
  const dashboard = faceopsDashboard() as Dashboard;
  const panels = dashboard.panels.filter((panel) => panel.type !== "row");
  const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
  let serving: Map<string, string>;
  let controller: Map<string, string>;
  before(async () => {
    serving = await declared(createServeMetrics(new Registry(), { defaultMetrics: false }).registry);
    controller = await declared(createControllerMetrics(new Registry()).registry);
  });

  test("the committed k8s/monitoring/faceops-dashboard.json is the builder's output", async () => {
    const committed = await readFile(join(root, committedPath), "utf8").catch((error: unknown) => {
      throw new Error(`${committedPath} is missing: run npm run dashboard`, { cause: error });
    });
    assert.equal(committed, `${JSON.stringify(faceopsDashboard(), null, 2)}\n`, `${committedPath} is stale: run npm run dashboard`);
  });

  describe("against Grafana's JSON schemas for the SDK's version (test/spec/grafana)", () => {
    const schemas = new GrafanaSchemas();
    /** A copy of the dashboard with one panel changed, to show the check fails and names the panel. */
    const withPanel = (title: string, change: (panel: Record<string, unknown>) => void): object => {
      const copy = structuredClone(dashboard) as unknown as { panels: Array<Record<string, unknown>> };
      const panel = copy.panels.find((candidate) => candidate.title === title);
      assert.ok(panel, `the dashboard has a panel "${title}"`);
      change(panel);
      return copy;
    };
    /** Where a panel sits in the dashboard's JSON, as the problems name it. */
    const at = (title: string) => `dashboard/panels/${dashboard.panels.findIndex((panel) => panel.title === title)}`;

    test("the vendored schemas are those of the SDK version package.json pins", async () => {
      const sdk = JSON.parse(await readFile(join(root, "node_modules/@grafana/grafana-foundation-sdk/package.json"), "utf8")) as { version: string };
      const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
      assert.equal(manifest.devDependencies["@grafana/grafana-foundation-sdk"], sdk.version, "package.json pins the SDK to the version installed");
      const origin = await readFile(join(grafanaSchemaDir, "ORIGIN.md"), "utf8");
      assert.ok(origin.includes(`\`${sdk.version}\``), `test/spec/grafana/ORIGIN.md names the SDK version ${sdk.version}: vendor that version's schemas`);
      for (const file of ["LICENSE", "dashboard.jsonschema.json", "prometheus.jsonschema.json"]) assert.ok((await readFile(join(grafanaSchemaDir, file), "utf8")).length > 0, file);
      // A schema for every panel type the dashboard uses (rows are the dashboard schema's RowPanel).
      for (const type of new Set(panels.map((panel) => panel.type))) assert.ok(schemas.has(type, "Options"), `a vendored schema for ${type} panels`);
    });

    test("the dashboard, every panel, its plugin options and every query match", () => {
      const problems = schemas.dashboardProblems(dashboard);
      assert.deepEqual(problems, [], `the dashboard does not match Grafana's schemas:\n  ${problems.join("\n  ")}`);
    });

    test("every timeseries panel carries the legend and tooltip options its schema requires", () => {
      const series = panels.filter((panel) => panel.type === "timeseries");
      assert.ok(series.length > 0);
      for (const panel of series) {
        const options = (panel as { options?: { legend?: unknown; tooltip?: unknown } }).options;
        assert.ok(options?.legend && options.tooltip, `${panel.title} has legend and tooltip options`);
      }
    });

    test("a mismatch fails, naming the panel and the path", () => {
      const noLegend = schemas.dashboardProblems(withPanel("Request rate by status", (panel) => delete (panel.options as Record<string, unknown>).legend));
      assert.deepEqual(noLegend, [`panel 1 "Request rate by status" (timeseries): ${at("Request rate by status")}/options: must have required property 'legend'`]);
      const badTooltip = schemas.dashboardProblems(withPanel("In flight", (panel) => ((panel.options as { tooltip: { mode: string } }).tooltip.mode = "all")));
      assert.deepEqual(badTooltip, [`panel 8 "In flight" (timeseries): ${at("In flight")}/options/tooltip/mode: must be equal to one of the allowed values ("single", "multi", "none")`]);
      const strayField = schemas.dashboardProblems(withPanel("Active runs", (panel) => (panel.colour = "blue")));
      assert.deepEqual(strayField, [`panel 24 "Active runs" (stat): ${at("Active runs")}: must NOT have additional properties (colour)`]);
      const badQuery = schemas.dashboardProblems(withPanel("Batch size", (panel) => ((panel.targets as unknown[])[0] = { refId: "A" })));
      assert.deepEqual(badQuery, [`panel 7 "Batch size" (timeseries): ${at("Batch size")}/targets/0: must have required property 'expr'`]);
      const unknownType = schemas.dashboardProblems(withPanel("Unknown rate", (panel) => (panel.type = "xychart2")));
      assert.match(unknownType.join("\n"), /^panel 6 "Unknown rate" \(xychart2\): .*no schema for panels of type xychart2/m);
    });

    test("only a thresholds list's base step may be null (Grafana writes -Infinity so); any other null fails", () => {
      const steps = (panel: object) => (panel as { fieldConfig: { defaults: { thresholds: { steps: Array<{ value: number | null }> } } } }).fieldConfig.defaults.thresholds.steps;
      const unknownRate = panels.find((panel) => panel.title === "Unknown rate");
      assert.ok(unknownRate);
      assert.equal(steps(unknownRate)[0]?.value, null, "the base step is null, as Grafana writes it");
      const nullAbove = schemas.dashboardProblems(
        withPanel("Unknown rate", (panel) => {
          const [, second] = steps(panel);
          if (second) second.value = null;
        }),
      );
      assert.deepEqual(nullAbove, [`panel 6 "Unknown rate" (timeseries): ${at("Unknown rate")}/fieldConfig/defaults/thresholds/steps/1/value: must be number`]);
    });
  });

  test("is the faceops dashboard, on a Prometheus picked by the datasource variable", () => {
    assert.equal(dashboard.uid, "faceops");
    assert.equal(dashboard.title, "faceops");
    assert.deepEqual(faceopsDashboard(), dashboard, "the builder is pure");
    assert.equal(new Set(dashboard.panels.map((panel) => panel.id)).size, dashboard.panels.length, "panel ids are unique");
    for (const panel of panels) {
      assert.deepEqual(panel.datasource, { type: "prometheus", uid: "${datasource}" }, `${panel.title} reads the chosen data source`);
    }
  });

  test("every panel has a title, a description and a query", () => {
    assert.ok(panels.length > 0);
    for (const panel of panels) {
      assert.ok(panel.title.trim(), `panel ${panel.id} has a title`);
      assert.ok(panel.description?.trim(), `${panel.title} has a description`);
      assert.ok(panel.targets?.some((target) => target.expr.trim() !== ""), `${panel.title} has a query`);
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      assert.ok(refIds.every((refId) => refId !== ""), `${panel.title}: every query has a refId`);
      assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: refIds are unique`);
    }
  });

  test("the rows Serving, Model and Training hold the panels they must, on the metrics they must", () => {
    const rows = panelsByRow(dashboard);
    assert.deepEqual([...rows.keys()], Object.keys(requiredPanels));
    for (const [row, required] of Object.entries(requiredPanels)) {
      for (const [title, series] of Object.entries(required)) {
        const panel = rows.get(row)?.find((candidate) => candidate.title === title);
        assert.ok(panel, `the ${row} row has a panel "${title}"`);
        const read = new Set((panel.targets ?? []).flatMap((target) => referencedMetrics(target.expr)));
        for (const name of series) assert.ok(read.has(name), `${title} reads ${name}`);
      }
    }
  });

  test("every metric a query reads is declared, and read from the job that exposes it", () => {
    const histograms = new Set([...serving, ...controller].filter(([, type]) => type === "histogram").map(([name]) => name));
    for (const { panel, target } of targets) {
      const where = `${panel.title} ${target.refId}`;
      const used = referencedMetrics(target.expr);
      assert.ok(used.length > 0 || /\bup\b/.test(target.expr), `${where} reads a faceops metric`);
      for (const name of used) {
        const metric = metricName(name, histograms);
        assert.ok(serving.has(metric) || controller.has(metric), `${where}: ${metric} is not a metric faceops declares (src/metrics/)`);
        const job = serving.has(metric) ? "faceops-inference" : "faceops-controller";
        for (const [, selector] of target.expr.matchAll(new RegExp(`\\b${name}(?![\\w:])(\\{[^}]*\\})?`, "g"))) {
          assert.ok(selector?.includes(`job="${job}"`), `${where}: ${name} is read from job="${job}"`);
        }
      }
    }
  });

  test("every label a query names is one the series it reads carry", () => {
    const labels = declaredLabels();
    const problems = targets.flatMap(({ panel, target }) => undeclaredLabels(target.expr, labels).map((problem) => `${panel.title} ${target.refId}: ${problem}`));
    assert.deepEqual(problems, []);
  });

  test("rates use $__rate_interval, and no query uses any other Grafana variable", () => {
    for (const { panel, target } of targets) {
      const where = `${panel.title} ${target.refId}`;
      for (const [, window] of withoutStrings(target.expr).matchAll(/\b(?:rate|irate)\([^()[]*\[([^\]]*)\]/g)) assert.equal(window, "$__rate_interval", `${where}: a rate over $__rate_interval`);
      assert.doesNotMatch(grafanaExprToPromQL(target.expr), /\$/, `${where}: only Grafana's interval variables`);
    }
  });


  test("every query parses (promtool check rules)", async (t) => {
    if (!requires(t, promtool)) return;
    const rules = targets.map(({ panel, target }) => ({ record: `faceops:dashboard_panel${panel.id}_${target.refId}`, expr: grafanaExprToPromQL(target.expr) }));
    assert.match(await promtoolCheckRules([{ name: "dashboard", rules }], "dashboard"), /SUCCESS/);
  });
});
