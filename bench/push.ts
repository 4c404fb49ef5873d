import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import type { RunRecord } from "../src/records/runs.js";
import { FaceopsUp } from "../test/helpers/faceops-up.js";
import { TestRepo } from "../test/helpers/git-repo.js";
import { lfwPeople, lfwPhotos, lfwRoot } from "../test/helpers/lfw.js";
import { resolvesWithin } from "../test/helpers/wait.js";
import { chooseHeldOut, pushBreakdown, pushPlan, type DatasetPerson, type PushBreakdown } from "./push-phases.js";
import type { BenchResult } from "./result.js";

/**
 * Push-to-served (`npm run bench -- push`): the real `faceops up` (its own store, its server on a
 * free port of 127.0.0.1, attempts as child processes), every default but the poll interval, on a git
 * repository of lfw-min10 less two people. It trains the repository once (cold); then 10 photos of
 * the first held-out person are committed and the signed push webhook sent, and the clock runs until
 * /v1/predict names a photo of them that was not committed; then the same for the second person with
 * no webhook, the controller's poll alone finding the commit. The second person is another one so
 * that none of their photos is in the feature cache. Everything is over HTTP, as a user's tools see
 * it: the served model (/v1/model, /v1/predict) and the run records (/v1/runs), whose attempt results
 * say where the time went (records/attempt-result.ts, AttemptPhases).
 *
 * faceops runs as `npm start` runs it: built first (`npm run build`, not timed), then `node
 * dist/cli/main.js up`, whose attempts are `node dist/cli/main.js attempt` processes; run from source
 * through tsx, as the tests do, each attempt would pay seconds of compiling on start.
 *
 * Options (after `--`): --people N puts only N people in the repository (the first in name order
 * besides the held-out ones: a small run to develop with); --poll-interval D the controller's poll
 * interval (a faceops duration, 10s unless said); --from-source runs faceops through tsx, unbuilt.
 */

const projectRoot = resolve(import.meta.dirname, "..");

/** The options bench/run.ts parses for this benchmark (node:util parseArgs). */
export const pushOptions = {
  people: { type: "string" },
  "poll-interval": { type: "string" },
  "from-source": { type: "boolean" },
} as const;

const defaultPollInterval = "10s";
/** How often the benchmark looks at the served model while it waits: the resolution of its figures. */
const lookEveryMs = 100;
/** A progress line at least this often. */
const progressEveryMs = 10_000;

export async function benchPush(options: Record<string, string | boolean | undefined> = {}): Promise<BenchResult> {
  const settings = pushSettings(options);
  const people: DatasetPerson[] = lfwPeople(10).map((name) => ({ name, photos: lfwPhotos(name) }));
  const [webhookPerson, pollPerson] = chooseHeldOut(people, 2) as [DatasetPerson, DatasetPerson];
  const heldOut = new Set([webhookPerson.name, pollPerson.name]);
  const remaining = people.filter((person) => !heldOut.has(person.name));
  const inRepository = settings.people === null ? remaining : remaining.slice(0, settings.people);
  const photos = inRepository.reduce((sum, person) => sum + person.photos.length, 0);
  const scope = settings.people === null ? `all of lfw-min10 but 2 people` : `a small run: ${inRepository.length} of lfw-min10's ${people.length} people (--people ${settings.people})`;
  say(`repository: ${inRepository.length} people, ${photos} photos (${scope}); held out: ${webhookPerson.name} for the webhook push, ${pollPerson.name} for the poll push (${pushPlan(webhookPerson).committed.length} photos committed each, one more to name); poll interval ${settings.pollInterval}`);

  const entry = settings.fromSource ? undefined : [await buildFaceops()];
  const scratch = mkdtempSync(join(tmpdir(), "faceops-bench-push-"));
  const repo = new TestRepo("faceops-bench-push-faces-");
  const session = new UpSession();
  // Stops faceops up (and so its attempts) and removes the repository and the store; once, whoever asks first.
  let cleaning: Promise<void> | null = null;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      process.off("SIGINT", interrupted);
      process.off("SIGTERM", interrupted);
      await session.stop();
      repo.dispose();
      await rm(scratch, { recursive: true, force: true });
    })());
  // Ctrl-C: this process would end without running the finally below, leaving faceops up behind.
  const interrupted = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping faceops up and removing the benchmark's repository and store`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    for (const person of inRepository) for (const photo of person.photos) repo.copy(photo, `${person.name}/${basename(photo)}`);
    repo.commit(`lfw-min10: ${inRepository.length} people`);

    // 1. Cold: faceops up on the repository, its first model trained from nothing.
    const upStarted = Date.now();
    const up = await session.start(entry, ["--store", join(scratch, "store"), "--set", `source.repo=${repo.path}`, "--set", "serve.port=0", "--set", "serve.host=127.0.0.1", "--set", `controller.pollInterval=${settings.pollInterval}`]);
    say(`faceops up (${settings.fromSource ? "from source, through tsx" : "built, dist/cli/main.js"}) listening at ${up.url} after ${seconds(Date.now() - upStarted)} s`);
    const coldBound = Math.max(600_000, photos * 600);
    const cold = await session.waitForVersion({ what: "the cold training", previous: null, since: upStarted, timeoutMs: coldBound });
    const coldRun = await session.runThatMade(cold.version);
    const coldBreakdown = pushBreakdown({ pushedAt: upStarted, servedAt: cold.at, run: coldRun });
    const coldResult = coldBreakdown.attempt.result;
    if (!coldResult?.ok) throw new Error(`run ${coldRun.id} was promoted without a passing result`);
    say(`cold: ${cold.version} in service ${seconds(cold.at - upStarted)} s after faceops up started; training ${seconds(coldBreakdown.trainingSeconds * 1000)} s, balanced accuracy ${(coldResult.balancedAccuracy * 100).toFixed(2)}%`);
    // The controller records the run as passed a moment after the server loads its version: a push before that would queue behind it.
    await session.waitForRunEnd(coldRun.id);

    // 2. A push announced by the signed webhook.
    const webhook = await session.push({ repo, person: webhookPerson, previous: cold.version, announce: true, timeoutMs: 600_000 });
    // 3. A push found by the poll alone.
    const poll = await session.push({ repo, person: pollPerson, previous: webhook.version, announce: false, timeoutMs: 600_000 + settings.pollIntervalMs });

    const rows: BenchResult["rows"] = [
      { metric: "cold_train", value: coldBreakdown.trainingSeconds, unit: "s", note: `first attempt launched -> gate passed, ${photos} photos, ${coldResult.backbone}, ${coldRun.attempts.length} attempt(s); target <= 240 on all of lfw-min10` },
      { metric: "balanced_accuracy", value: coldResult.balancedAccuracy, unit: "0..1", note: `the cold model on its ${coldResult.testPhotos} test photos; target >= 0.990` },
      { metric: "push_to_served_webhook", value: webhook.seconds, unit: "s", note: `10 photos of a new person, commit + signed webhook -> /v1/predict names another photo of them, run started by ${webhook.run.trigger}; target <= 15` },
      { metric: "push_to_served_poll", value: poll.seconds, unit: "s", note: `the same without the webhook, poll interval ${settings.pollInterval}; target <= ${seconds(settings.pollIntervalMs)} + 15` },
      { metric: "poll_interval", value: settings.pollIntervalMs / 1000, unit: "s", note: "controller.pollInterval during the benchmark" },
      { metric: "cold_up_to_served", value: (cold.at - upStarted) / 1000, unit: "s", note: "faceops up started -> first model in service" },
      ...phaseRows("cold", coldBreakdown),
      ...phaseRows("webhook", webhook.breakdown),
      { metric: "webhook_rollout_first_answer", value: webhook.firstAnswerSeconds, unit: "s", note: "of the rollout: /v1/model shows the version -> /v1/predict names the photo" },
      ...phaseRows("poll", poll.breakdown),
      { metric: "poll_rollout_first_answer", value: poll.firstAnswerSeconds, unit: "s", note: "of the rollout: /v1/model shows the version -> /v1/predict names the photo" },
    ];
    return {
      name: `push: push-to-served on ${scope}`,
      rows,
      environment: {
        people: inRepository.length,
        photos,
        heldOut: { webhook: webhookPerson.name, poll: pollPerson.name },
        probes: { webhook: basename(pushPlan(webhookPerson).probe), poll: basename(pushPlan(pollPerson).probe) },
        pollInterval: settings.pollInterval,
        faceops: settings.fromSource ? "from source through tsx" : "built (npm run build), node dist/cli/main.js",
        triggers: { webhook: webhook.run.trigger, poll: poll.run.trigger },
        backbone: coldResult.backbone,
        engine: coldResult.engine,
        dataset: lfwRoot,
      },
    };
  } finally {
    await cleanUp();
  }
}

/** `npm run build`, as `npm start` does first; answers the entry point it built. */
async function buildFaceops(): Promise<string> {
  say("building faceops (npm run build, as npm start does; not timed)");
  const started = Date.now();
  const build = spawn("npm", ["run", "build", "--silent"], { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  build.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  build.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const ticker = setInterval(() => say(`still building, ${seconds(Date.now() - started)} s`), progressEveryMs);
  try {
    const code = await new Promise<number | null>((done, failed) => {
      build.once("error", failed);
      build.once("exit", (exitCode, signal) => done(exitCode ?? (signal ? -1 : null)));
    });
    if (code !== 0) throw new Error(`npm run build failed (exit ${code}):\n${output}`);
  } finally {
    clearInterval(ticker);
  }
  say(`built in ${seconds(Date.now() - started)} s`);
  return join(projectRoot, "dist", "cli", "main.js");
}

function pushSettings(options: Record<string, string | boolean | undefined>): { people: number | null; pollInterval: string; pollIntervalMs: number; fromSource: boolean } {
  const people = options.people;
  if (people !== undefined && (typeof people !== "string" || !/^[1-9][0-9]*$/.test(people) || Number(people) < 2)) {
    throw new Error(`--people takes a whole number of people, at least 2; received ${JSON.stringify(people)}`);
  }
  const pollInterval = options["poll-interval"] ?? defaultPollInterval;
  if (typeof pollInterval !== "string") throw new Error(`--poll-interval takes a duration such as 10s; received ${JSON.stringify(pollInterval)}`);
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(pollInterval);
  if (!match) throw new Error(`--poll-interval takes a duration such as 500ms, 10s or 1m; received ${JSON.stringify(pollInterval)}`);
  const pollIntervalMs = Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as "ms" | "s" | "m"];
  const fromSource = options["from-source"] ?? false;
  if (typeof fromSource !== "boolean") throw new Error(`--from-source takes no value; received ${JSON.stringify(fromSource)}`);
  return { people: people === undefined ? null : Number(people), pollInterval, pollIntervalMs, fromSource };
}

function phaseRows(prefix: string, breakdown: PushBreakdown): BenchResult["rows"] {
  const result = breakdown.attempt.result;
  const features = result?.ok ? result.features : undefined;
  const notes: Partial<Record<string, string>> = {
    notice: prefix === "cold" ? "faceops up started -> attempt launched (server start, first dataset check)" : "push -> attempt launched",
    startup: result?.ok && result.phases ? `attempt process started (${result.phases.startup.toFixed(1)} s), backbone and detector loaded (${result.phases.runtime.toFixed(1)} s)` : "",
    dataset: "commit read, photos checked",
    features: features ? `${features.computed} vectors computed, ${features.cached} read from the cache` : "",
    head: "head trained and evaluated, open set calibrated",
    gate: "deployed model on the same photos, bundle written, result judged",
    rollout: "gate passed -> served model answers",
    retries: "earlier attempts of the run",
  };
  const rows: BenchResult["rows"] = breakdown.phases.map(({ phase, seconds: value }) => ({ metric: `${prefix}_${phase}`, value, unit: "s", note: notes[phase] ?? "" }));
  if (result?.ok && result.peakRssBytes) rows.push({ metric: `${prefix}_attempt_peak_rss`, value: result.peakRssBytes / 2 ** 20, unit: "MiB", note: prefix === "cold" ? "the training process; target <= 1536 on all of lfw-min10" : "the training process" });
  return rows;
}

interface Served {
  version: string;
  /** Milliseconds since the epoch when the awaited answer came. */
  at: number;
  /** Milliseconds since the epoch when /v1/model first showed the version. */
  versionAt: number;
}

interface RunsAnswer {
  runs: Array<{ id: string; state: string; commit: string | null; version: string | null }>;
}

/**
 * One `faceops up` and what the benchmark asks of it over HTTP. Its secrets are made for the run;
 * stop() stops it (SIGTERM: it stops its attempts too) and, should it not exit in time, kills it and
 * the attempt it last ran.
 */
class UpSession {
  private up: FaceopsUp | null = null;
  private readonly webhookSecret = randomBytes(24).toString("hex");
  private readonly apiToken = randomBytes(24).toString("hex");
  /** The last attempt process seen in a run record: killed with its group if faceops up must be killed. */
  private attemptPid: number | null = null;

  /** `entry`: node's arguments that run faceops (the built main script); tsx and src/ when undefined. */
  async start(entry: readonly string[] | undefined, args: string[]): Promise<FaceopsUp> {
    this.up = await FaceopsUp.start(args, { env: { FACEOPS_WEBHOOK_SECRET: this.webhookSecret, FACEOPS_API_TOKEN: this.apiToken }, timeoutMs: 300_000, entry });
    return this.up;
  }

  async stop(): Promise<void> {
    const up = this.up;
    if (!up) return;
    this.up = null;
    if (await resolvesWithin(up.stop(), 60_000)) return;
    say("faceops up did not stop within 60 s of SIGTERM: killing it and its last attempt");
    await up.kill9();
    if (this.attemptPid !== null) {
      try {
        process.kill(-this.attemptPid, "SIGKILL");
      } catch {
        // Already gone: what was wanted.
      }
    }
  }

  private get server(): FaceopsUp {
    if (!this.up) throw new Error("faceops up is not running");
    if (this.up.child.exitCode !== null || this.up.child.signalCode !== null) {
      throw new Error(`faceops up exited (${this.up.child.exitCode ?? this.up.child.signalCode}); its log ends with:\n${this.up.log.split("\n").slice(-20).join("\n")}`);
    }
    return this.up;
  }

  private async getJson<T>(path: string): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.server.url}${path}`, { headers: { Authorization: `Bearer ${this.apiToken}` } });
    return { status: response.status, body: (await response.json()) as T };
  }

  async run(id: string): Promise<RunRecord> {
    const answer = await this.getJson<RunRecord>(`/v1/runs/${id}`);
    if (answer.status !== 200) throw new Error(`GET /v1/runs/${id} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  async runThatMade(version: string): Promise<RunRecord> {
    const { body } = await this.getJson<RunsAnswer>("/v1/runs?limit=20");
    const summary = body.runs.find((run) => run.version === version);
    if (!summary) throw new Error(`no run of the last 20 made ${version}`);
    return this.run(summary.id);
  }

  async waitForRunEnd(id: string): Promise<RunRecord> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const run = await this.run(id);
      if (["passed", "failed", "superseded"].includes(run.state)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} did not end within 60 s of its version being served: it is ${run.state}`);
      await delay(lookEveryMs);
    }
  }

  private async servedVersion(): Promise<string | null> {
    const answer = await this.getJson<{ version?: string }>("/v1/model");
    return answer.status === 200 ? (answer.body.version ?? null) : null;
  }

  /** What /v1/predict names in the photo: the first face's label. */
  async predict(photo: string): Promise<{ version: string; label: string | null }> {
    const response = await fetch(`${this.server.url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(photo) });
    const body = (await response.json()) as { model?: { version: string }; results?: Array<{ label?: string }> };
    if (response.status !== 200 || !body.model) throw new Error(`POST /v1/predict with ${basename(photo)} answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
    return { version: body.model.version, label: body.results?.[0]?.label ?? null };
  }

  /** The run of `commit`, once the controller has made one. */
  private async runOf(commit: string | null): Promise<RunRecord | null> {
    const { body } = await this.getJson<RunsAnswer>("/v1/runs?limit=5");
    const summary = commit === null ? body.runs[0] : body.runs.find((run) => run.commit === commit);
    return summary ? this.run(summary.id) : null;
  }

  /**
   * Waits until the served version is another than `previous` (and, with a probe, /v1/predict names
   * its person with that version), printing where things stand at least every 10 s. Fails at once
   * when the run for the commit fails, and after `timeoutMs` with where things stood.
   */
  async waitForVersion(wait: { what: string; previous: string | null; since: number; timeoutMs: number; commit?: string; probe?: { photo: string; person: string } }): Promise<Served> {
    const deadline = wait.since + wait.timeoutMs;
    let lastSaid = 0;
    let lastStatus = "";
    let lastRunLook = 0;
    let status = "waiting for the controller to start a run";
    let versionAt: number | null = null;
    for (;;) {
      const now = Date.now();
      if (now - lastRunLook >= 1_000) {
        lastRunLook = now;
        const run = await this.runOf(wait.commit ?? null);
        if (run) {
          status = this.describe(run).slice(0, 200);
          if (run.state === "failed" || run.state === "superseded") {
            // Each attempt's verdict, so a failed benchmark says why the gate refused (or what crashed).
            const attempts = run.attempts.map((attempt) => `attempt ${attempt.number} ${attempt.state}: ${attempt.gate?.reason ?? attempt.error ?? "no verdict"}`);
            throw new Error(`${wait.what}: run ${run.id} ${run.state}: ${run.reason ?? "no reason recorded"}\n  ${attempts.join("\n  ")}`);
          }
        }
      }
      const version = await this.servedVersion();
      if (version !== null && version !== wait.previous) {
        versionAt ??= Date.now();
        if (!wait.probe) return { version, at: versionAt, versionAt };
        const answer = await this.predict(wait.probe.photo);
        if (answer.label === wait.probe.person) return { version: answer.version, at: Date.now(), versionAt };
        if (answer.version !== wait.previous) {
          throw new Error(`${wait.what}: ${answer.version} is in service but names ${basename(wait.probe.photo)} ${JSON.stringify(answer.label)}, not ${wait.probe.person}`);
        }
      }
      if (Date.now() > deadline) throw new Error(`${wait.what}: nothing new in service after ${seconds(wait.timeoutMs)} s (still ${wait.previous ?? "no model"}); ${status}`);
      if (status !== lastStatus || Date.now() - lastSaid >= progressEveryMs) {
        say(`${wait.what}, ${seconds(Date.now() - wait.since)} s: ${status}`);
        lastSaid = Date.now();
        lastStatus = status;
      }
      await delay(lookEveryMs);
    }
  }

  /** Where a run stands, with its last attempt's latest log line (the features' progress, for one). */
  private describe(run: RunRecord): string {
    const attempt = run.attempts.at(-1);
    if (!attempt) return `run ${run.id} ${run.state}, no attempt yet`;
    if (attempt.process?.pid) this.attemptPid = attempt.process.pid;
    const state = run.state === "promoting" ? `gate passed, ${run.promotion?.version ?? "version"} rolling out` : `attempt ${attempt.number} ${attempt.state}`;
    return `run ${run.id} (${run.trigger}) ${state}${attempt.state === "running" ? lastLogLine(attempt.log) : ""}`;
  }

  /** Commits 10 photos of `person`, announces the push or not, and times it until /v1/predict names them. */
  async push(push: { repo: TestRepo; person: DatasetPerson; previous: string; announce: boolean; timeoutMs: number }): Promise<{ seconds: number; version: string; run: RunRecord; breakdown: PushBreakdown; firstAnswerSeconds: number }> {
    const { committed, probe } = pushPlan(push.person);
    const what = push.announce ? "webhook push" : "poll push";
    for (const photo of committed) push.repo.copy(photo, `${push.person.name}/${basename(photo)}`);
    const commit = push.repo.commit(`Add ${push.person.name}`);
    const pushedAt = Date.now();
    if (push.announce) await this.sendWebhook(commit);
    const served = await this.waitForVersion({ what, previous: push.previous, since: pushedAt, timeoutMs: push.timeoutMs, commit, probe: { photo: probe, person: push.person.name } });
    const run = await this.runThatMade(served.version);
    if (run.commit !== commit) throw new Error(`${what}: ${served.version} was made by run ${run.id} of ${run.commit}, not of the pushed commit ${commit}`);
    // Nothing but the poll may start the poll push's run; the webhook push's says which came first (a poll a few ms after the commit may).
    if (!push.announce && run.trigger !== "poll") throw new Error(`${what}: run ${run.id} was started by ${run.trigger}, not by the poll`);
    const breakdown = pushBreakdown({ pushedAt, servedAt: served.at, run });
    const total = (served.at - pushedAt) / 1000;
    say(`${what}: ${push.person.name} named by ${served.version} ${total.toFixed(1)} s after the commit (run ${run.id}, trigger ${run.trigger}): ${breakdown.phases.map(({ phase, seconds: value }) => `${phase} ${value.toFixed(1)}`).join(", ")}`);
    await this.waitForRunEnd(run.id);
    return { seconds: total, version: served.version, run, breakdown, firstAnswerSeconds: (served.at - served.versionAt) / 1000 };
  }

  /** The push event a git server sends, signed as GitHub signs it (controller/webhook.ts checks it). */
  private async sendWebhook(commit: string): Promise<void> {
    const body = JSON.stringify({ ref: "refs/heads/main", after: commit });
    const signature = `sha256=${createHmac("sha256", this.webhookSecret).update(body).digest("hex")}`;
    const response = await fetch(`${this.server.url}/v1/webhook`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": signature },
      body,
    });
    const answer = (await response.json()) as { accepted?: boolean };
    if (response.status !== 202 || answer.accepted !== true) throw new Error(`the signed webhook was answered ${response.status}: ${JSON.stringify(answer)}`);
  }
}

/** ", <msg> <done>/<total>" from the last JSON line of an attempt's log, or "". */
function lastLogLine(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return "";
  }
  const lines = text.trimEnd().split("\n");
  for (let index = lines.length - 1; index >= 0 && index >= lines.length - 20; index--) {
    try {
      const record = JSON.parse(lines[index] as string) as { msg?: string; done?: number; total?: number };
      if (!record.msg) continue;
      return `: ${record.msg}${record.done !== undefined && record.total !== undefined ? ` ${record.done}/${record.total}` : ""}`;
    } catch {
      // A line being written, or not JSON: look at the one before.
    }
  }
  return "";
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function say(line: string): void {
  console.log(`[push] ${line}`);
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
