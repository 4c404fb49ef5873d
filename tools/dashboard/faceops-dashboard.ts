import * as barGauge from "@grafana/grafana-foundation-sdk/bargauge";
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  SortOrder,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizOrientation,
  VizTooltipOptionsBuilder,
} from "@grafana/grafana-foundation-sdk/common";
import type { Builder } from "@grafana/grafana-foundation-sdk/cog";
import {
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  MappingType,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type DataSourceRef,
  type DynamicConfigValue,
  type MatcherConfig,
  type Panel,
} from "@grafana/grafana-foundation-sdk/dashboard";
import * as heatmap from "@grafana/grafana-foundation-sdk/heatmap";
import { DataqueryBuilder, PromQueryFormat } from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import * as units from "@grafana/grafana-foundation-sdk/units";
import { configSchema } from "../../src/config/schema.js";

/*
 * The faceops Grafana dashboard, built with the Grafana Foundation SDK. Both are dev-time only: the
 * SDK is a devDependency and this folder sits outside src/, which is all the build compiles, so
 * neither reaches dist or an image. `npm run dashboard` (generate.ts) writes the dashboard to
 * k8s/monitoring/faceops-dashboard.json, which kustomize puts in the ConfigMap Grafana's sidecar
 * loads; test/delivery/monitoring/dashboard.test.ts fails when that file is stale.
 *
 * Every query selects its job as the alerts in k8s/monitoring/prometheusrule.yaml do: the scraped
 * Service's name. Rates use $__rate_interval; counts of rare events (runs, attempts, load failures)
 * are increases over the dashboard's time range ($__range), since a few runs a day leave a rate
 * window empty most of the time. Thresholds come from the configuration's defaults, so a changed
 * default shows up here (and makes the committed file stale) instead of drifting.
 *
 * Every panel carries the options its plugin's schema requires (test/delivery/monitoring/dashboard.test.ts
 * validates the output against Grafana's published JSON schemas for the SDK's version): the SDK's
 * timeseries builder leaves legend and tooltip out unless they are set, so timeseriesPanel sets them.
 */

const inference = 'job="faceops-inference"';
const controller = 'job="faceops-controller"';

/** The panels read whichever Prometheus the dashboard's data source variable names. */
const datasource: DataSourceRef = { type: "prometheus", uid: "${datasource}" };

const defaults = configSchema.parse({});
const minAccuracy = defaults.gate.minAccuracy;
const attemptTimeoutSeconds = defaults.controller.attemptTimeout / 1000;

function query(refId: string, expr: string, legend = ""): DataqueryBuilder {
  return new DataqueryBuilder().datasource(datasource).refId(refId).expr(expr).legendFormat(legend);
}

/** A query for a stat or bar gauge: the value now (or over the whole range), not a series. */
function instant(refId: string, expr: string, legend = ""): DataqueryBuilder {
  return query(refId, expr, legend).instant();
}

function histogramQuantile(quantile: number, histogram: string, selector: string, window = "$__rate_interval"): string {
  const fn = window === "$__rate_interval" ? "rate" : "increase";
  return `histogram_quantile(${quantile}, sum by (le) (${fn}(${histogram}_bucket{${selector}}[${window}])))`;
}

/** Threshold steps: the base colour, then each [from, colour]. */
function thresholds(base: string, ...steps: Array<[number, string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps([{ value: null, color: base }, ...steps.map(([value, color]) => ({ value, color }))]);
}

/**
 * Series drawn in a fixed colour, matched by their names. Grafana's byNames matcher rather than the
 * SDK's overrideByName: byName's options are a bare string, where Grafana's schema (MatcherConfig)
 * wants an object; byNames takes {mode, names}.
 */
function colourSeries(names: string[], color: string): { matcher: MatcherConfig; properties: DynamicConfigValue[] } {
  return { matcher: { id: "byNames", options: { mode: "include", names } }, properties: [{ id: "color", value: { mode: "fixed", fixedColor: color } }] };
}

const lastValue = () => new ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false);
const thresholdLine = () => new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed);

/** A list legend under the graph, as Grafana's own default. */
const legend = () => new VizLegendOptionsBuilder().displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom).showLegend(true).calcs([]);
/** Every series at the hovered time, highest first: the panels compare series (statuses, quantiles, pods). */
const tooltip = () => new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending);

function timeseriesPanel(id: number, title: string, description: string): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(id)
    .title(title)
    .description(description)
    .datasource(datasource)
    .legend(legend())
    .tooltip(tooltip())
    .fillOpacity(10)
    .lineWidth(1);
}

function statPanel(id: number, title: string, description: string): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .id(id)
    .title(title)
    .description(description)
    .datasource(datasource)
    .reduceOptions(lastValue())
    .graphMode(BigValueGraphMode.None)
    .colorMode(BigValueColorMode.Value);
}

function barGaugePanel(id: number, title: string, description: string): barGauge.PanelBuilder {
  return new barGauge.PanelBuilder()
    .id(id)
    .title(title)
    .description(description)
    .datasource(datasource)
    .reduceOptions(lastValue())
    .orientation(VizOrientation.Horizontal);
}

function servingPanels(): Array<Builder<Panel>> {
  const predictRoute = `${inference}, route="/v1/predict"`;
  return [
    timeseriesPanel(
      1,
      "Request rate by status",
      "Inference API requests per second by HTTP status (the /v1 and /v2 API; the kubelet's /healthz and /readyz, /metrics and the web page left out). " +
        "A rise of 5xx fires FaceopsInferenceErrors: see Errors by reason and the inference pods' logs; 4xx are callers' mistakes (bad uploads, too many photos).",
    )
      .unit(units.RequestsPerSecond)
      .min(0)
      .withTarget(query("A", `sum by (code) (rate(http_request_duration_seconds_count{${inference}, route=~"/v[12]/.*"}[$__rate_interval]))`, "{{code}}"))
      .span(8)
      .height(8),
    timeseriesPanel(
      2,
      "Prediction latency",
      "p50, p95 and p99 of POST /v1/predict as callers see it (http_request_duration_seconds), and of the prediction itself from decoded photos to answer (request_predict_seconds, KServe's name, every route). " +
        "A p95 above 2 s for 15 minutes fires FaceopsSlowPredictions: if only the HTTP line is high, uploads or decoding are slow; if both are, add inference replicas or a GPU, or lower serve.maxBatch.",
    )
      .unit(units.Seconds)
      .min(0)
      .thresholds(thresholds("green", [2, "red"]))
      .thresholdsStyle(thresholdLine())
      .withTarget(query("A", histogramQuantile(0.5, "http_request_duration_seconds", predictRoute), "HTTP p50"))
      .withTarget(query("B", histogramQuantile(0.95, "http_request_duration_seconds", predictRoute), "HTTP p95"))
      .withTarget(query("C", histogramQuantile(0.99, "http_request_duration_seconds", predictRoute), "HTTP p99"))
      .withTarget(query("D", histogramQuantile(0.5, "request_predict_seconds", inference), "predict p50"))
      .withTarget(query("E", histogramQuantile(0.95, "request_predict_seconds", inference), "predict p95"))
      .withTarget(query("F", histogramQuantile(0.99, "request_predict_seconds", inference), "predict p99"))
      .span(8)
      .height(8),
    timeseriesPanel(
      3,
      "Errors by reason",
      "Requests answered with an error per second (faceops_http_request_errors_total), by HTTP status (the label code, as Prometheus' own instrumentation names it) and faceops error code (the label reason). " +
        "4xx reasons are callers' mistakes (invalid_image, too_many_files, payload_too_large); 5xx are the service's own (model_not_ready: no model loaded yet): read the inference pods' logs.",
    )
      .unit(units.RequestsPerSecond)
      .min(0)
      .withTarget(query("A", `sum by (code, reason) (rate(faceops_http_request_errors_total{${inference}}[$__rate_interval]))`, "{{code}} {{reason}}"))
      .span(8)
      .height(8),
    timeseriesPanel(
      4,
      "Predictions by outcome",
      "Answers per second, by outcome: a face of a person the model was trained on (known), a face of a stranger (unknown), or a photo with no face to name (no_face) (faceops_predictions_total; no person's name is a metric label). " +
        "Unknown taking over after a promotion points at the new model: compare with the accuracy in service and roll back if needed.",
    )
      .unit(units.OpsPerSecond)
      .min(0)
      .withTarget(query("A", `sum by (outcome) (rate(faceops_predictions_total{${inference}}[$__rate_interval]))`, "{{outcome}}"))
      .span(8)
      .height(8),
    new heatmap.PanelBuilder()
      .id(5)
      .title("Score distribution")
      .description(
        "How sure the model is: the probability of the top label of each face named (faceops_prediction_score), per time slice. " +
          "Mass drifting towards low scores means the photos sent no longer look like the training photos (new people, lighting, cameras): add such photos to the face repository.",
      )
      .datasource(datasource)
      .calculate(false)
      .yAxis(new heatmap.YAxisConfigBuilder().unit(units.PercentUnit).decimals(0))
      .withTarget(query("A", `sum by (le) (increase(faceops_prediction_score_bucket{${inference}}[$__rate_interval]))`, "{{le}}").format(PromQueryFormat.Heatmap))
      .span(8)
      .height(8),
    timeseriesPanel(
      6,
      "Unknown rate",
      "Share of the faces named that were answered \"unknown\" (faceops_unknown_predictions_total / faceops_predictions_total without the no_face answers). " +
        "A rise means people the model does not know are being sent, or the open-set threshold (openSet.maxDistance) is too strict: add their photos to the face repository, or revisit the threshold.",
    )
      .unit(units.PercentUnit)
      .min(0)
      .max(1)
      .thresholds(thresholds("green", [0.2, "yellow"], [0.5, "red"]))
      .thresholdsStyle(thresholdLine())
      .withTarget(
        query(
          "A",
          `sum(rate(faceops_unknown_predictions_total{${inference}}[$__rate_interval])) / sum(rate(faceops_predictions_total{${inference},outcome!="no_face"}[$__rate_interval]))`,
          "unknown",
        ),
      )
      .span(8)
      .height(8),
    timeseriesPanel(
      7,
      "Batch size",
      `Photos per backbone call after micro-batching (faceops_inference_batch_size): mean and p95. Under load they should approach serve.maxBatch (default ${defaults.serve.maxBatch}); ` +
        "batches of 1 under load mean photos arrive too far apart for serve.maxDelayMs to group them.",
    )
      .unit(units.Short)
      .min(0)
      .withTarget(
        query(
          "A",
          `sum(rate(faceops_inference_batch_size_sum{${inference}}[$__rate_interval])) / sum(rate(faceops_inference_batch_size_count{${inference}}[$__rate_interval]))`,
          "mean",
        ),
      )
      .withTarget(query("B", histogramQuantile(0.95, "faceops_inference_batch_size", inference), "p95"))
      .span(8)
      .height(7),
    timeseriesPanel(
      8,
      "In flight",
      "HTTP requests being served right now, per inference pod (faceops_http_requests_in_flight). " +
        "A pod that stays high while the others are low is stuck or slow: read its log, or delete it so the Deployment replaces it.",
    )
      .unit(units.Short)
      .min(0)
      .decimals(0)
      .withTarget(query("A", `sum by (pod) (faceops_http_requests_in_flight{${inference}})`, "{{pod}}"))
      .span(8)
      .height(7),
    statPanel(
      9,
      "Model load failures",
      "Model bundles the inference pods failed to load or verify in the time range (faceops_model_load_failures_total); the pod keeps its previous model. " +
        "Any fires FaceopsModelLoadFailed: check the store volume and the bundle's checksum, and the pod's memory limit.",
    )
      .unit(units.Short)
      .decimals(0)
      .noValue("0")
      .thresholds(thresholds("green", [1, "red"]))
      .withTarget(instant("A", `sum(increase(faceops_model_load_failures_total{${inference}}[$__range]))`))
      .span(4)
      .height(7),
    statPanel(
      10,
      "Inference pods up",
      "Inference pods Prometheus scrapes successfully (up). None fires FaceopsInferenceDown: `kubectl -n faceops get pods -l app.kubernetes.io/component=inference`.",
    )
      .unit(units.Short)
      .decimals(0)
      .noValue("0")
      .thresholds(thresholds("red", [1, "green"]))
      .withTarget(instant("A", `sum(up{${inference}})`))
      .span(4)
      .height(7),
  ];
}

function modelPanels(): Array<Builder<Panel>> {
  return [
    statPanel(
      11,
      "Version in service",
      "The model version the controller promoted (faceops_deployed_model_info) and the versions the inference pods have loaded (faceops_model_info). " +
        "They differ during a rollout; if they still differ after controller.rolloutDeadline, the rollout is stuck: `kubectl -n faceops rollout status deployment/faceops-inference`.",
    )
      .textMode(BigValueTextMode.Name)
      .colorMode(BigValueColorMode.None)
      .withTarget(instant("A", `max by (version) (faceops_deployed_model_info{${controller}})`, "promoted {{version}}"))
      .withTarget(instant("B", `max by (version) (faceops_model_info{${inference}})`, "served {{version}}"))
      .span(6)
      .height(5),
    statPanel(
      12,
      "Accuracy in service",
      `Held-out (test split) accuracy of the model in service, from its bundle (faceops_deployed_model_accuracy). Red below gate.minAccuracy's default, ${minAccuracy}: ` +
        "such a model was promoted under a lower gate or rolled back to; look at the last runs' gate decisions (GET /v1/runs) and add photos of the labels it confuses.",
    )
      .unit(units.PercentUnit)
      .decimals(1)
      .min(0)
      .max(1)
      .thresholds(thresholds("red", [minAccuracy, "green"]))
      .withTarget(instant("A", `max(faceops_deployed_model_accuracy{${controller}})`))
      .span(4)
      .height(5),
    statPanel(
      13,
      "Dataset commit",
      "The commit of the face repository the model in service was trained on (faceops_deployed_model_info's dataset_commit). " +
        "If the watched branch has moved past it, see Untrained data age and the Training row.",
    )
      .textMode(BigValueTextMode.Name)
      .colorMode(BigValueColorMode.None)
      .withTarget(instant("A", `max by (dataset_commit) (faceops_deployed_model_info{${controller}})`, "{{dataset_commit}}"))
      .span(5)
      .height(5),
    statPanel(
      14,
      "Since the last promotion",
      "Time since the model in service was promoted or rolled back to (faceops_deployed_model_promoted_timestamp_seconds). " +
        "Long is fine while the face repository does not change; with Untrained data age set, the runs since are failing.",
    )
      .unit(units.Seconds)
      .decimals(0)
      .colorMode(BigValueColorMode.None)
      .withTarget(instant("A", `time() - max(faceops_deployed_model_promoted_timestamp_seconds{${controller}})`))
      .span(4)
      .height(5),
    statPanel(
      15,
      "Untrained data age",
      "How long the watched branch has held photos the model in service was not trained on (faceops_dataset_untrained_since_timestamp_seconds; 0 when up to date). " +
        `Yellow after one controller.attemptTimeout (default ${attemptTimeoutSeconds / 3600} h), red after controller.maxAttempts of them: runs are failing or not starting; see the Training row and GET /v1/runs.`,
    )
      .unit(units.Seconds)
      .decimals(0)
      .mappings([{ type: MappingType.ValueToText, options: { "0": { text: "Up to date", color: "green", index: 0 } } }])
      .thresholds(thresholds("green", [attemptTimeoutSeconds, "yellow"], [attemptTimeoutSeconds * defaults.controller.maxAttempts, "red"]))
      .withTarget(instant("A", `max((time() - faceops_dataset_untrained_since_timestamp_seconds{${controller}}) * (faceops_dataset_untrained_since_timestamp_seconds{${controller}} > bool 0))`))
      .span(5)
      .height(5),
    barGaugePanel(
      16,
      "Dataset photos by split",
      "Valid photos in the watched dataset, by split (faceops_dataset_photos). " +
        "A small test split makes the gate's accuracy noisy; a sudden drop means photos were deleted or rejected: run `faceops dataset check` on the repository.",
    )
      .unit(units.Short)
      .decimals(0)
      .min(0)
      .thresholds(thresholds("blue"))
      .withTarget(instant("A", `sum by (split) (faceops_dataset_photos{${controller}})`, "{{split}}"))
      .span(16)
      .height(6),
    statPanel(
      17,
      "Rejected files",
      "Files of the watched dataset that were skipped: corrupt, too small, not a photo (faceops_dataset_rejected_files). " +
        "`faceops dataset check` (or GET /v1/runs/{id}) lists them with a reason code: fix or remove them in the face repository.",
    )
      .unit(units.Short)
      .decimals(0)
      .graphMode(BigValueGraphMode.Area)
      .thresholds(thresholds("green", [1, "yellow"]))
      .withTarget(instant("A", `max(faceops_dataset_rejected_files{${controller}})`))
      .span(8)
      .height(6),
  ];
}

function trainingPanels(): Array<Builder<Panel>> {
  return [
    barGaugePanel(
      18,
      "Runs by outcome",
      "Runs ended in the time range, by outcome (faceops_runs_total): passed (a model in service), failed, superseded by a newer commit. " +
        "Failed runs fire FaceopsRunFailed: the previous model keeps serving; GET /v1/runs/{id} has each run's reasons.",
    )
      .unit(units.Short)
      .decimals(0)
      .min(0)
      .thresholds(thresholds("blue"))
      .withOverride(colourSeries(["passed"], "green"))
      .withOverride(colourSeries(["failed"], "red"))
      .withTarget(instant("A", `sum by (outcome) (increase(faceops_runs_total{${controller}}[$__range]))`, "{{outcome}}"))
      .span(12)
      .height(7),
    barGaugePanel(
      19,
      "Attempts by outcome",
      "Training attempts ended in the time range, by outcome (faceops_attempts_total): passed, failed (the gate refused the model), crashed, timed-out, cancelled. " +
        "Crashes and timeouts fire FaceopsAttemptsCrashing (no GPU node, out of memory, image pulls): `kubectl -n faceops get jobs -l app.kubernetes.io/component=trainer`.",
    )
      .unit(units.Short)
      .decimals(0)
      .min(0)
      .thresholds(thresholds("blue"))
      .withOverride(colourSeries(["passed"], "green"))
      .withOverride(colourSeries(["failed"], "orange"))
      .withOverride(colourSeries(["crashed", "timed-out"], "red"))
      .withTarget(instant("A", `sum by (outcome) (increase(faceops_attempts_total{${controller}}[$__range]))`, "{{outcome}}"))
      .span(12)
      .height(7),
    barGaugePanel(
      20,
      "Attempts per run",
      `How many attempts the runs ended in the time range took (faceops_attempts_per_run), by bucket. Most runs should pass on their first attempt; runs reaching controller.maxAttempts (default ${defaults.controller.maxAttempts}) ` +
        "mean the gate keeps refusing the models: look at the attempts' accuracy and the dataset.",
    )
      .unit(units.Short)
      .decimals(0)
      .min(0)
      .thresholds(thresholds("blue"))
      .withTarget(instant("A", `sum by (le) (increase(faceops_attempts_per_run_bucket{${controller}}[$__range]))`, "≤ {{le}}").format(PromQueryFormat.Heatmap))
      .span(8)
      .height(7),
    statPanel(
      21,
      "Attempt duration",
      `Median and p95 wall time of the attempts ended in the time range, start to result (faceops_attempt_duration_seconds). Attempts running past controller.attemptTimeout (default ${attemptTimeoutSeconds / 3600} h) are stopped as crashed: ` +
        "near it, give the trainer a GPU, fewer epochs (train.epochs) or a longer timeout.",
    )
      .unit(units.Seconds)
      .decimals(0)
      .textMode(BigValueTextMode.ValueAndName)
      .thresholds(thresholds("green", [attemptTimeoutSeconds / 2, "yellow"], [attemptTimeoutSeconds * 0.9, "red"]))
      .withTarget(instant("A", `${histogramQuantile(0.5, "faceops_attempt_duration_seconds", controller, "$__range")} >= 0`, "p50"))
      .withTarget(instant("B", `${histogramQuantile(0.95, "faceops_attempt_duration_seconds", controller, "$__range")} >= 0`, "p95"))
      .span(8)
      .height(7),
    statPanel(
      22,
      "Accuracy per attempt",
      `Held-out (test split) accuracy of the attempts that trained a model in the time range (faceops_attempt_accuracy): median and the worst tenth. Red below gate.minAccuracy's default, ${minAccuracy}, which the gate refuses: ` +
        "add photos (especially of the labels confused most), or tune training (train.*).",
    )
      .unit(units.PercentUnit)
      .decimals(1)
      .min(0)
      .max(1)
      .textMode(BigValueTextMode.ValueAndName)
      .thresholds(thresholds("red", [minAccuracy, "green"]))
      .withTarget(instant("A", `${histogramQuantile(0.5, "faceops_attempt_accuracy", controller, "$__range")} >= 0`, "p50"))
      .withTarget(instant("B", `${histogramQuantile(0.1, "faceops_attempt_accuracy", controller, "$__range")} >= 0`, "p10"))
      .span(8)
      .height(7),
    statPanel(
      23,
      "Attempts pending",
      `Attempts started but waiting for the platform, e.g. a training pod the scheduler cannot place (faceops_attempts_pending). Kubernetes fails them after kubernetes.pendingTimeout (default ${defaults.kubernetes.pendingTimeout / 60_000} min): ` +
        "`kubectl -n faceops describe pods -l app.kubernetes.io/component=trainer` says why (no GPU node, quota, taints).",
    )
      .unit(units.Short)
      .decimals(0)
      .graphMode(BigValueGraphMode.Area)
      .thresholds(thresholds("green", [1, "yellow"]))
      .withTarget(instant("A", `max(faceops_attempts_pending{${controller}})`))
      .span(6)
      .height(6),
    statPanel(
      24,
      "Active runs",
      "Runs in progress (faceops_active_runs, 0 or 1). One that stays active for hours while Attempts pending is 0 is worth a look at GET /v1/runs.",
    )
      .unit(units.Short)
      .decimals(0)
      .graphMode(BigValueGraphMode.Area)
      .thresholds(thresholds("blue"))
      .withTarget(instant("A", `max(faceops_active_runs{${controller}})`))
      .span(6)
      .height(6),
    timeseriesPanel(
      25,
      "Controller errors",
      "Controller passes and actions that failed and are retried with backoff, per minute (faceops_controller_errors_total): git server unreachable, Kubernetes API errors, store problems. " +
        "More than 5 in 30 minutes fires FaceopsControllerErrors: read the controller's log.",
    )
      .unit(units.OpsPerMinute)
      .min(0)
      .thresholds(thresholds("green", [5 / 30, "red"]))
      .thresholdsStyle(thresholdLine())
      .withTarget(query("A", `sum(rate(faceops_controller_errors_total{${controller}}[$__rate_interval])) * 60`, "errors"))
      .span(12)
      .height(6),
  ];
}

/**
 * The dashboard as Grafana reads it: plain JSON data (the SDK's queries carry a marker method,
 * which a round trip through JSON drops). Pure: an equal object every call.
 */
export function faceopsDashboard(): object {
  const builder = new DashboardBuilder("faceops")
    .uid("faceops")
    .description("faceops: the inference service, the model in service and its dataset, and training runs and attempts.")
    .tags(["faceops"])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .timezone("browser")
    .time({ from: "now-24h", to: "now" })
    .refresh("30s")
    .withVariable(new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"));
  const rows: Array<[string, Array<Builder<Panel>>]> = [
    ["Serving", servingPanels()],
    ["Model", modelPanels()],
    ["Training", trainingPanels()],
  ];
  // Expanded rows: Grafana lays a row's panels out after it in the dashboard's own list (panels
  // nested in a row are only kept for collapsed rows). Row ids stay clear of the panels' 1, 2, ...
  rows.forEach(([title, panels], index) => {
    builder.withRow(new RowBuilder(title).id(100 * (index + 1)));
    for (const panel of panels) builder.withPanel(panel);
  });
  return JSON.parse(JSON.stringify(builder.build())) as object;
}
