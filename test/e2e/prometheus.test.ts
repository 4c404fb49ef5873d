import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { RunRecord } from "../../src/records/runs.js";
import { FaceopsUp, getJson, quickUpArguments } from "../helpers/faceops-up.js";
import { waitFor } from "../helpers/wait.js";
import { TestRepo, temporaryFolder } from "../helpers/git-repo.js";
import { lfwPhotos } from "../helpers/lfw.js";
import { readPrometheusRuleGroups, writeRulesFile } from "../helpers/prometheus-rules.js";
import { PrometheusServer, alertSignals, answerSize, type QueryAnswer } from "../helpers/prometheus-server.js";
import { prometheus as prometheusBinary, skipUnless } from "../helpers/tools.js";

/**
 * Proof with a real Prometheus that no panel of the Grafana dashboard and no alert is blank: a live
 * `faceops up` (a real git repository of faces, real training attempts) is scraped every second by
 * Debian's prometheus, which also evaluates the alerting rules of k8s/monitoring/prometheusrule.yaml.
 * After traffic of every kind and runs of several outcomes, every panel expression and the signal of
 * every alert (its expression without the threshold) must return data through Prometheus' HTTP API.
 *
 * The scenario makes happen, at least once, the events the panels and alerts count that a user
 * causes: a 5xx (a prediction before any model exists), 4xx of several codes, strangers answered
 * "unknown", a run that fails the gate. It does not break faceops to make the others happen (a model
 * that fails to load, a crashed attempt, an inference target down): the series behind those must
 * exist at 0 in a healthy system, or the panel is blank and the alert cannot be told from a typo.
 */

const root = resolve(import.meta.dirname, "../..");
const examples = join(root, "examples");
const dashboardPath = join(root, "k8s/monitoring/faceops-dashboard.json");
const apiToken = "prometheus-e2e-api-token";
// Grafana's $__rate_interval and $__interval: at a 1 s scrape interval, 30 s holds ~30 samples, so a
// rate always has the two it needs.
const rateWindow = "30s";

const trainedPeople = readdirSync(join(examples, "faces")).sort();
// LFW photos of the trained people that the repository does not hold (examples/faces has 0001-0020).
const knownPhotos = trainedPeople.flatMap((person) => lfwPhotos(person).slice(20, 23));
const strangerPhotos = ["Tony_Blair", "Colin_Powell", "Ariel_Sharon"].flatMap((person) => lfwPhotos(person).slice(0, 3));

const suite = "Prometheus scraping faceops up: every dashboard panel and every alert has data";
// CI installs prometheus (.ci/run): there a missing binary fails the file; elsewhere the suite skips, loudly.
const skip = skipUnless(suite, prometheusBinary);

interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
}

interface GrafanaPanel {
  title?: string;
  panels?: GrafanaPanel[];
  targets?: Array<{ expr?: string; refId?: string }>;
}

/** Every PromQL expression of every panel, rows' nested panels included. */
function panelQueries(panels: readonly GrafanaPanel[]): PanelQuery[] {
  return panels.flatMap((panel) => [
    ...(panel.targets ?? []).filter((target) => typeof target.expr === "string" && target.expr.trim() !== "").map((target) => ({ panel: panel.title ?? "(untitled)", refId: target.refId ?? "?", expr: target.expr as string })),
    ...panelQueries(panel.panels ?? []),
  ]);
}

/**
 * A panel's expression as Grafana sends it to Prometheus: its interval variables become durations
 * ($__range: the time this test has been scraping). A variable this test does not know is an error.
 */
function grafanaToPromQL(expr: string, rangeSeconds: number): string {
  const durations: Record<string, string> = {
    __rate_interval: rateWindow,
    __interval: rateWindow,
    __interval_ms: String(Number.parseInt(rateWindow, 10) * 1000),
    __range: `${rangeSeconds}s`,
    __range_s: String(rangeSeconds),
    __range_ms: String(rangeSeconds * 1000),
  };
  const promql = expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (variable: string, braced?: string, bare?: string) => durations[braced ?? bare ?? ""] ?? variable);
  const unknown = /\$\{?\w+\}?/.exec(promql);
  if (unknown) throw new Error(`the Grafana variable ${unknown[0]} has no value in this test: ${expr}`);
  return promql;
}

/** Why an answer is blank in Grafana, or null when it has data. */
function blankBecause(answer: QueryAnswer): string | null {
  if (answer.status === "error") return `Prometheus refused it: ${answer.errorType}: ${answer.error}`;
  const { series, finite } = answerSize(answer.data);
  if (series === 0) return `no series: ${JSON.stringify(answer.data)}`;
  if (!finite) return `only NaN or infinite values: ${JSON.stringify(answer.data).slice(0, 600)}`;
  return null;
}

describe("alertSignals: an alert's expression without its threshold", () => {
  const table: Array<[string, string[]]> = [
    ['sum(rate(x{job="a"}[5m])) > 0.05', ['sum(rate(x{job="a"}[5m]))']],
    ["a / b >= 2", ["a / b"]],
    ['absent(up{job="c"} == 1)', ['up{job="c"}']],
    ["absent_over_time(up[5m])", ["up"]],
    ["count(up == 0) > 0", ["count(up == 0)"]],
    ["sum(increase(r{outcome=\"failed\"}[1d])) >= 3\n  unless on() sum(increase(r{outcome=\"passed\"}[1d])) > 0", ['sum(increase(r{outcome="failed"}[1d]))', 'sum(increase(r{outcome="passed"}[1d]))']],
    ["a > bool 1 or on(x) group_left b != 2", ["a", "b"]],
    ['x{l=~"or|and|>"} < 1 and y{l!="<"}', ['x{l=~"or|and|>"}', 'y{l!="<"}']],
    ["(errors_total / requests_total) > 0.1", ["errors_total / requests_total"]],
    ["time() - max(ts > 0) > 3600", ["time() - max(ts > 0)"]],
    ["histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))", ["histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))"]],
  ];
  for (const [expr, signals] of table) {
    test(expr.replace(/\s+/g, " "), () => assert.deepEqual(alertSignals(expr), signals));
  }
});

describe(suite, { skip, timeout: 300_000 }, () => {
  const repo = new TestRepo("faceops-prometheus-faces-");
  const store = temporaryFolder("faceops-prometheus-store-");
  const rules = temporaryFolder("faceops-prometheus-rules-");
  let up: FaceopsUp | null = null;
  let prometheus: PrometheusServer | null = null;
  let scrapingSince = Date.now();
  let trafficEnded = 0;
  let trickling = true;
  let trickle: Promise<void> = Promise.resolve();

  const faceops = () => {
    if (!up) throw new Error("faceops up is not running");
    return up;
  };
  const server = () => {
    if (!prometheus) throw new Error("prometheus is not running");
    return prometheus;
  };
  const post = (path: string, body: string | Uint8Array, type: string, headers: Record<string, string> = {}) =>
    fetch(`${faceops().url}${path}`, { method: "POST", headers: { "Content-Type": type, ...headers }, body });
  const predict = async (photo: string) => {
    const response = await post("/v1/predict", readFileSync(photo), "image/jpeg");
    return { status: response.status, body: (await response.json()) as { model?: { version: string }; results?: Array<{ label: string }> } };
  };
  const servedVersion = async () => {
    const answer = await getJson<{ version?: string }>(`${faceops().url}/v1/model`);
    return answer.status === 200 ? answer.body.version : undefined;
  };
  const waitForRunEnd = (id: string) =>
    waitFor(`run ${id} to end`, async () => {
      const found = await getJson<RunRecord>(`${faceops().url}/v1/runs/${id}`, { headers: { Authorization: `Bearer ${apiToken}` } }).catch(() => null);
      return found?.status === 200 && ["passed", "failed", "superseded"].includes(found.body.state) ? found.body : undefined;
    }, 120_000);
  /** A number from an instant query that returns one sample, or undefined. */
  const scalarOf = async (expr: string) => {
    const answer = await server().query(expr);
    if (answer.status !== "success" || answer.data.resultType !== "vector") return undefined;
    const value = answer.data.result[0]?.value[1];
    return value === undefined ? undefined : Number(value);
  };

  before(async () => {
    for (const person of trainedPeople) {
      for (const name of readdirSync(join(examples, "faces", person))) repo.copy(join(examples, "faces", person, name), `${person}/${name}`);
    }
    repo.commit("Three people");
    up = await FaceopsUp.start(
      quickUpArguments(store.path, repo.path, ["--set", "controller.maxAttempts=2"]),
      { env: { FACEOPS_API_TOKEN: apiToken } },
    );
    const target = new URL(faceops().url).host;
    prometheus = await PrometheusServer.start({
      interval: "1s",
      // `faceops up` serves the inference API and the controller's API on one port, with one
      // registry behind one /metrics (src/cli/commands/up.ts). On Kubernetes they are two Services,
      // scraped as the jobs faceops-inference and faceops-controller, which the dashboard and the
      // alerts select: here the one target is scraped under both job names.
      jobs: [
        { name: "faceops-inference", targets: [target] },
        { name: "faceops-controller", targets: [target] },
      ],
      ruleFiles: [await writeRulesFile(rules.path)],
    });
    scrapingSince = Date.now();
  });

  after(async () => {
    trickling = false;
    await trickle;
    await prometheus?.stop();
    await up?.stop();
    repo.dispose();
    store.dispose();
    rules.dispose();
  });

  test("Prometheus is ready and scrapes faceops up as faceops-inference and faceops-controller", async () => {
    const targets = await server().waitForTargets(["faceops-inference", "faceops-controller"], "up", 30_000);
    assert.deepEqual(targets.map((entry) => entry.labels.job).sort(), ["faceops-controller", "faceops-inference"]);
  });

  test("before any model, a prediction is refused with 503; the run at start-up puts v1 in service", async () => {
    // The store is empty, so nothing can be served until run 1 has trained: a 5xx the error panels and alerts can see.
    assert.equal((await predict(knownPhotos[0] as string)).status, 503);
    await waitFor("v1 in service", async () => ((await servedVersion()) === "v1" ? true : undefined), 120_000);
    const first = await waitForRunEnd("1");
    assert.equal(first.state, "passed", first.reason ?? "");
  });

  test("a run asked for over the controller's API (POST /v1/runs with the token) passes and v2 is rolled out", async () => {
    const refused = await post("/v1/runs", JSON.stringify({ force: true }), "application/json");
    assert.equal(refused.status, 401);
    const asked = await post("/v1/runs", JSON.stringify({ force: true }), "application/json", { Authorization: `Bearer ${apiToken}` });
    assert.equal(asked.status, 202, await asked.text());
    const second = await waitForRunEnd("2");
    assert.equal(second.state, "passed", second.reason ?? "");
    await waitFor("v2 in service", async () => ((await servedVersion()) === "v2" ? true : undefined), 30_000);
  });

  test("traffic: known people, strangers, bad requests and a missing model version", async () => {
    const labels: string[] = [];
    for (const photo of [...knownPhotos, ...strangerPhotos]) {
      const answer = await predict(photo);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      labels.push(answer.body.results?.[0]?.label ?? "(none)");
    }
    assert.ok(labels.some((label) => trainedPeople.includes(label)), `no known person was recognised: ${labels.join(", ")}`);
    // The open-set threshold is calibrated at training (openSet.maxDistance: auto); strangers lie beyond it.
    assert.ok(labels.includes("unknown"), `no stranger was answered "unknown": ${labels.join(", ")}`);
    // Two photos in one request, and the Open Inference Protocol's infer.
    const form = new FormData();
    for (const photo of knownPhotos.slice(0, 2)) form.append("image", new Blob([readFileSync(photo)], { type: "image/jpeg" }), basename(photo));
    assert.equal((await fetch(`${faceops().url}/v1/predict`, { method: "POST", body: form })).status, 200);
    const infer = (path: string, body: unknown) => post(path, JSON.stringify(body), "application/json");
    const inputs = [{ name: "image", shape: [1], datatype: "BYTES", data: [readFileSync(knownPhotos[1] as string).toString("base64")] }];
    assert.equal((await infer("/v2/models/faces/infer", { inputs })).status, 200);
    // Bad requests: a truncated photo, a body that is not a photo, a v2 request without inputs, a version not in service.
    const truncated = readFileSync(knownPhotos[2] as string).subarray(0, 600);
    assert.equal((await post("/v1/predict", truncated, "image/jpeg")).status, 400);
    assert.equal((await post("/v1/predict", "hello", "text/plain")).status, 415);
    assert.equal((await infer("/v2/models/faces/infer", {})).status, 400);
    assert.equal((await infer("/v2/models/faces/versions/v99/infer", { inputs })).status, 404);
    trafficEnded = Date.now();
    // A trickle of predictions until the end, so rates over the last 30 s are not zero and
    // latency quantiles are numbers, not NaN, when the panels are evaluated.
    trickle = (async () => {
      for (let count = 0; trickling; count++) {
        const photos = count % 3 === 2 ? strangerPhotos : knownPhotos;
        await predict(photos[count % photos.length] as string).catch(() => undefined);
        await new Promise((done) => setTimeout(done, 250));
      }
    })();
  });

  test("a commit with mislabelled photos fails the gate twice: a failed run, failed attempts, nothing deployed", async () => {
    const [first, second, third] = trainedPeople as [string, string, string];
    for (const photo of lfwPhotos(third).slice(25, 45)) repo.copy(photo, `${second}/${basename(photo)}`);
    for (const photo of lfwPhotos(first).slice(25, 45)) repo.copy(photo, `${third}/${basename(photo)}`);
    repo.commit("Photos filed under the wrong people");
    const ended = await waitForRunEnd("3");
    assert.equal(ended.state, "failed", ended.reason ?? "");
    assert.equal(ended.attempts.length, 2);
    for (const attempt of ended.attempts) assert.equal(attempt.gate?.pass, false, attempt.gate?.reason ?? "");
    assert.equal(await servedVersion(), "v2");
  });

  test("Prometheus has scraped both jobs several times after the traffic and the runs", async () => {
    const runsEnded = Date.now();
    await waitFor("faceops_predictions_total in Prometheus", async () => ((await scalarOf('sum(faceops_predictions_total{job="faceops-inference"})')) ?? 0) > 0 ? true : undefined, 30_000);
    await waitFor("faceops_runs_total{outcome=\"failed\"} in Prometheus", () => scalarOf('sum(faceops_runs_total{job="faceops-controller", outcome="failed"})'), 30_000);
    // Five more scrapes of both jobs after the last event, so rates and increases cover it.
    const since = Math.max(trafficEnded, runsEnded) / 1000 + 5;
    await waitFor("5 scrapes after the traffic", async () => {
      const oldest = await scalarOf('min(timestamp(up{job=~"faceops-inference|faceops-controller"}))');
      return oldest !== undefined && oldest >= since ? true : undefined;
    }, 30_000);
    // And every rule evaluated since.
    await waitFor("every rule to be evaluated after the traffic", async () => {
      const loaded = (await server().ruleGroups()).flatMap((group) => group.rules);
      return loaded.length > 0 && loaded.every((rule) => Date.parse(rule.lastEvaluation) / 1000 >= since) ? true : undefined;
    }, 30_000);
  });

  test("no label value Prometheus stored is a trained person's name: predictions are counted by outcome", async () => {
    // Every series of both jobs, as stored: what anyone who can query Prometheus (or read its
    // volume) sees, for weeks. Faces are personal data, so no person's name may be among them.
    const answer = await server().query('{job=~"faceops-inference|faceops-controller"}');
    assert.equal(answer.status, "success", JSON.stringify(answer));
    assert.ok(answer.status === "success" && answer.data.resultType === "vector");
    const values = new Set(answer.data.result.flatMap((series) => Object.values(series.metric)));
    const names = [...values].filter((value) => trainedPeople.some((person) => value.toLowerCase().includes(person.toLowerCase())));
    assert.deepEqual(names, [], "label values holding a trained person's name");
    const outcomes = answer.data.result.filter((series) => series.metric.__name__ === "faceops_predictions_total").map((series) => series.metric.outcome);
    assert.deepEqual([...new Set(outcomes)].sort(), ["known", "unknown"]);
  });

  test("every panel expression of the dashboard returns data", async (t) => {
    assert.ok(existsSync(dashboardPath), `no dashboard at ${dashboardPath} (npm run dashboard writes it)`);
    const dashboard = JSON.parse(readFileSync(dashboardPath, "utf8")) as { panels?: GrafanaPanel[]; dashboard?: { panels?: GrafanaPanel[] } };
    const queries = panelQueries(dashboard.panels ?? dashboard.dashboard?.panels ?? []);
    assert.ok(queries.length > 0, `no panel of ${dashboardPath} has a PromQL expression`);
    const rangeSeconds = Math.ceil((Date.now() - scrapingSince) / 1000);
    const blank: string[] = [];
    for (const query of queries) {
      const promql = grafanaToPromQL(query.expr, rangeSeconds);
      const why = blankBecause(await server().query(promql));
      if (why) blank.push(`panel "${query.panel}" (${query.refId}): ${promql}\n    ${why}`);
    }
    t.diagnostic(`${queries.length} panel expressions evaluated, ${blank.length} blank`);
    assert.equal(blank.length, 0, `${blank.length} of ${queries.length} panel expressions return no data:\n  ${blank.join("\n  ")}`);
  });

  test("every alerting rule loaded healthy, and the signal of each (its expression without the threshold) has data", async (t) => {
    const defined = readPrometheusRuleGroups().flatMap((group) => group.rules.map((rule) => rule.alert ?? rule.record ?? "(unnamed)"));
    const loaded = (await server().ruleGroups()).flatMap((group) => group.rules.map((rule) => ({ ...rule, group: group.name })));
    assert.deepEqual(loaded.map((rule) => rule.name).sort(), [...defined].sort(), "Prometheus loaded the rules prometheusrule.yaml defines");
    const unhealthy = loaded.filter((rule) => rule.health !== "ok" || rule.lastError);
    assert.deepEqual(unhealthy.map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ""}`), []);
    const blank: string[] = [];
    let signals = 0;
    for (const rule of loaded) {
      for (const signal of alertSignals(rule.query)) {
        signals++;
        const why = blankBecause(await server().query(signal));
        if (why) blank.push(`${rule.type === "alerting" ? "alert" : "rule"} ${rule.name} (${rule.group}): ${signal}\n    ${why}\n    (whole expression: ${rule.query.replace(/\s+/g, " ")})`);
      }
    }
    t.diagnostic(`${loaded.length} rules, ${signals} signal expressions evaluated, ${blank.length} blank`);
    assert.equal(blank.length, 0, `${blank.length} of ${signals} alert signals return no data:\n  ${blank.join("\n  ")}`);
  });
});
