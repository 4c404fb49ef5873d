import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "./net.js";
import { prometheus as prometheusBinary } from "./tools.js";
import { StopWaiting, waitFor, waitUntil } from "./wait.js";

/**
 * A real Prometheus for the tests: Debian's prometheus package (.ci/run installs it) as a child
 * process listening on 127.0.0.1 only, with a generated configuration and a TSDB in a temporary
 * folder, queried through its HTTP API. Also the PromQL text surgery the monitoring tests need.
 */

/** Debian's prometheus package installs the server here; PROMETHEUS_PATH overrides it. */
export const prometheusPath = prometheusBinary.path;

export interface ScrapeJob {
  /** The job label every series scraped by this job gets. */
  name: string;
  /** host:port of each target. */
  targets: string[];
  metricsPath?: string;
}

export interface PrometheusOptions {
  jobs: ScrapeJob[];
  /** Rules files (plain Prometheus format) to load. */
  ruleFiles?: string[];
  /** Global scrape and rule evaluation interval, e.g. "1s". */
  interval?: string;
  readyTimeoutMs?: number;
}

export type QueryData =
  | { resultType: "vector"; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
  | { resultType: "matrix"; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }
  | { resultType: "scalar" | "string"; result: [number, string] };

/** An answer of /api/v1/query: the data on success, else Prometheus' error type and message. */
export type QueryAnswer = { status: "success"; data: QueryData; warnings?: string[] } | { status: "error"; errorType: string; error: string };

export interface TargetStatus {
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
  lastScrape: string;
}

export interface RuleStatus {
  type: "alerting" | "recording";
  name: string;
  query: string;
  health: "ok" | "err" | "unknown";
  lastError?: string;
  lastEvaluation: string;
  state?: string;
}

export interface RuleGroupStatus {
  name: string;
  file: string;
  rules: RuleStatus[];
}

/** The prometheus.yml for `options`, as YAML text. */
export function prometheusConfig(options: PrometheusOptions): string {
  const interval = options.interval ?? "1s";
  return stringify({
    // A scrape timeout above the interval is a configuration error; the default (10s) is.
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: options.jobs.map((job) => ({
      job_name: job.name,
      metrics_path: job.metricsPath ?? "/metrics",
      static_configs: [{ targets: job.targets }],
    })),
  });
}

export class PrometheusServer {
  private output = "";
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    /** Holds prometheus.yml and the TSDB; removed by stop(). */
    readonly folder: string,
  ) {
    this.exited = new Promise((done) => child.once("exit", (code) => done(code)));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.output += chunk));
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (this.output += chunk));
  }

  /** Starts Prometheus on a free loopback port and waits for /-/ready; fails with its log if it exits first. */
  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    if (!prometheusBinary.available()) throw new Error(`this test needs ${prometheusBinary.what}: ${prometheusBinary.howToGet}`);
    const folder = mkdtempSync(join(tmpdir(), "faceops-prometheus-"));
    const config = join(folder, "prometheus.yml");
    writeFileSync(config, prometheusConfig(options));
    // Another process may take the port between freePort() and Prometheus' bind: try a few.
    let lastError: unknown = null;
    for (let tries = 0; tries < 3; tries++) {
      const port = await freePort();
      const child = spawn(
        prometheusPath,
        [`--config.file=${config}`, `--storage.tsdb.path=${join(folder, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const server = new PrometheusServer(child, `http://127.0.0.1:${port}`, folder);
      try {
        await server.waitForReady(options.readyTimeoutMs ?? 30_000);
        return server;
      } catch (error) {
        lastError = error;
        await server.kill();
        if (!/address already in use/.test(server.log)) break;
      }
    }
    rmSync(folder, { recursive: true, force: true });
    throw new Error("prometheus did not start", { cause: lastError });
  }

  /** Everything Prometheus has logged, for failure messages. */
  get log(): string {
    return this.output;
  }

  private async waitForReady(timeoutMs: number): Promise<void> {
    let exitCode: number | null | undefined;
    void this.exited.then((code) => (exitCode = code));
    await waitUntil("prometheus to be ready", async () => {
      if (exitCode !== undefined) throw new StopWaiting(`prometheus exited with ${exitCode} before it was ready:\n${this.output}`);
      return fetch(`${this.url}/-/ready`).then((response) => response.ok, () => false);
    }, { timeoutMs, everyMs: 100, explain: () => this.output });
  }

  private async api<T>(path: string): Promise<T> {
    const response = await fetch(`${this.url}${path}`);
    const body = (await response.json()) as { status: string; data?: T; error?: string };
    if (body.status !== "success" || body.data === undefined) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(body)}`);
    return body.data;
  }

  /**
   * An instant query through GET /api/v1/query (at `time`, default now). A query Prometheus refuses
   * (bad syntax, a type error) is returned as an error answer, not thrown, so a test can name it.
   */
  async query(expr: string, time?: Date): Promise<QueryAnswer> {
    const parameters = new URLSearchParams({ query: expr });
    if (time) parameters.set("time", String(time.getTime() / 1000));
    const response = await fetch(`${this.url}/api/v1/query?${parameters.toString()}`);
    const body = (await response.json()) as QueryAnswer;
    if (body.status !== "success" && body.status !== "error") throw new Error(`GET /api/v1/query answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  }

  async targets(): Promise<TargetStatus[]> {
    return (await this.api<{ activeTargets: TargetStatus[] }>("/api/v1/targets?state=active")).activeTargets;
  }

  async ruleGroups(): Promise<RuleGroupStatus[]> {
    return (await this.api<{ groups: RuleGroupStatus[] }>("/api/v1/rules")).groups;
  }

  /** Waits until every job named has at least one target and all of its targets have health `health`. */
  async waitForTargets(jobs: readonly string[], health: TargetStatus["health"] = "up", timeoutMs = 30_000): Promise<TargetStatus[]> {
    let seen: TargetStatus[] = [];
    return waitFor(`the targets of ${jobs.join(", ")} to be ${health}`, async () => {
      seen = await this.targets();
      const done = jobs.every((job) => {
        const ofJob = seen.filter((target) => target.labels.job === job);
        return ofJob.length > 0 && ofJob.every((target) => target.health === health);
      });
      return done ? seen : undefined;
    }, { timeoutMs, everyMs: 200, explain: () => seen.map((target) => `${target.labels.job} ${target.scrapeUrl}: ${target.health} ${target.lastError}`).join("; ") || "no targets" });
  }

  /** SIGKILL, for a server that never got ready. */
  private async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM (SIGKILL after 10 s), then the folder with the TSDB is removed. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.folder, { recursive: true, force: true });
  }
}

/** Series (or a scalar) in an answer, and whether any value is a finite number (NaN draws nothing). */
export function answerSize(data: QueryData): { series: number; finite: boolean } {
  const finite = (value: string) => Number.isFinite(Number(value));
  switch (data.resultType) {
    case "vector":
      return { series: data.result.length, finite: data.result.some((sample) => finite(sample.value[1])) };
    case "matrix":
      return { series: data.result.length, finite: data.result.some((series) => series.values.some((sample) => finite(sample[1]))) };
    default:
      return { series: 1, finite: finite(data.result[1]) };
  }
}

// --- PromQL text surgery -------------------------------------------------------------------------
// Prometheus 2.42 has no /api/v1/parse_query, so splitting an expression at its top-level binary
// operators is done on the text: a small scanner that skips strings, comments and anything inside
// (), [] or {}, which is enough to find the operators that bind last.

const comparisons = ["==", "!=", ">=", "<=", ">", "<"];
const isWordCharacter = (character: string | undefined) => character !== undefined && /[A-Za-z0-9_:]/.test(character);

interface TopLevelOperator {
  operator: string;
  start: number;
  end: number;
}

/** The binary operators of `expr` outside any brackets and strings: comparisons and and/or/unless. */
export function topLevelOperators(expr: string): TopLevelOperator[] {
  const found: TopLevelOperator[] = [];
  let depth = 0;
  for (let index = 0; index < expr.length; ) {
    const character = expr[index] as string;
    if (character === '"' || character === "'" || character === "`") {
      index++;
      while (index < expr.length && expr[index] !== character) index += character !== "`" && expr[index] === "\\" ? 2 : 1;
      index++;
      continue;
    }
    if (character === "#") {
      while (index < expr.length && expr[index] !== "\n") index++;
      continue;
    }
    if ("([{".includes(character)) depth++;
    else if (")]}".includes(character)) depth--;
    if (depth === 0 && isWordCharacter(character)) {
      let end = index;
      while (isWordCharacter(expr[end])) end++;
      const word = expr.slice(index, end).toLowerCase();
      if (word === "and" || word === "or" || word === "unless") found.push({ operator: word, start: index, end });
      index = end;
      continue;
    }
    if (depth === 0) {
      const comparison = comparisons.find((operator) => expr.startsWith(operator, index));
      if (comparison) {
        found.push({ operator: comparison, start: index, end: index + comparison.length });
        index += comparison.length;
        continue;
      }
    }
    index++;
  }
  return found;
}

/** The index just after the bracket that closes the one at `open`, or -1. */
function closingBracket(expr: string, open: number): number {
  let depth = 0;
  for (let index = open; index < expr.length; index++) {
    const character = expr[index] as string;
    if (character === '"' || character === "'" || character === "`") {
      index++;
      while (index < expr.length && expr[index] !== character) index += character !== "`" && expr[index] === "\\" ? 2 : 1;
      continue;
    }
    if ("([{".includes(character)) depth++;
    else if (")]}".includes(character) && --depth === 0) return index + 1;
  }
  return -1;
}

/** Removes parentheses around the whole expression, however many. */
function unwrap(expr: string): string {
  let text = expr.trim();
  while (text.startsWith("(") && closingBracket(text, 0) === text.length) text = text.slice(1, -1).trim();
  return text;
}

/** A binary operator's modifiers at the start of its right operand: bool, on(...), ignoring(...), group_left(...), group_right(...). */
function dropModifiers(operand: string): string {
  let text = operand.trim();
  for (;;) {
    const modifier = /^(bool|on|ignoring|group_left|group_right)\b\s*/i.exec(text);
    if (!modifier) return text;
    text = text.slice(modifier[0].length);
    if (text.startsWith("(") && modifier[1]?.toLowerCase() !== "bool") text = text.slice(closingBracket(text, 0)).trim();
  }
}

function splitAt(expr: string, operators: readonly TopLevelOperator[]): string[] {
  const operands: string[] = [];
  let start = 0;
  for (const operator of operators) {
    operands.push(expr.slice(start, operator.start));
    start = operator.end;
  }
  operands.push(expr.slice(start));
  return operands.map(dropModifiers);
}

/**
 * The expressions that carry an alert's signal, to prove the data behind the alert exists whether
 * or not it fires: `a or b`, `a and b` and `a unless b` give the signals of each operand; `a > 0.05`
 * (any comparison) gives the signals of `a`, the threshold dropped; `absent(x == 1)` gives those of
 * `x == 1`, so those of `x`. Anything else is its own signal. Comparisons inside brackets stay: a
 * filter such as `count(up == 0)` is part of the signal.
 */
export function alertSignals(expr: string): string[] {
  const text = unwrap(expr);
  const operators = topLevelOperators(text);
  for (const level of [["or"], ["and", "unless"]]) {
    const at = operators.filter((operator) => level.includes(operator.operator));
    if (at.length > 0) return splitAt(text, at).flatMap(alertSignals);
  }
  const comparison = operators.find((operator) => comparisons.includes(operator.operator));
  if (comparison) return alertSignals(text.slice(0, comparison.start));
  const absent = /^absent(_over_time)?\s*\(/.exec(text);
  if (absent && closingBracket(text, absent[0].length - 1) === text.length) {
    let inner = text.slice(absent[0].length, -1).trim();
    // absent_over_time(x[5m]): the range selector's selector.
    if (absent[1] && inner.endsWith("]")) inner = inner.slice(0, inner.lastIndexOf("[")).trim();
    return alertSignals(inner);
  }
  return [text];
}
