import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { createControllerApp } from "../../../src/controller/app.js";
import { Controller } from "../../../src/controller/controller.js";
import { DatasetWatch } from "../../../src/dataset/watch.js";
import { controllerRouter } from "../../../src/controller/http.js";
import type { RunRecord } from "../../../src/records/runs.js";
import { configSchema } from "../../../src/config/schema.js";
import { silentLogger } from "../../../src/log.js";
import { createControllerMetrics } from "../../../src/metrics/controller-metrics.js";
import type { ModelDeployer, TrainingExecutor } from "../../../src/platform/types.js";
import { listen, type RunningServer } from "../../../src/http/server.js";
import { RecordStore } from "../../../src/records/record-store.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { runCli } from "../../helpers/cli.js";
import { controllerSettings } from "../../helpers/controller-settings.js";
import { waitFor } from "../../helpers/wait.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";

/**
 * Run requests through the real loop: a real repository, the real controller, watch, store and HTTP
 * API; only training and serving are stand-ins (every attempt fails at once, permanently, so each
 * run ends as soon as it starts and the next request can be acted on). Everything is read back
 * through the API, as Jenkins and people read it.
 */

const token = "t0ken-for-requests";
const examples = resolve(import.meta.dirname, "../../../examples/faces");
const people = readdirSync(examples).sort();
const log = silentLogger();

/** Every attempt ends at once, failed in a way retrying cannot fix. */
const failingExecutor: TrainingExecutor = {
  launch: () => Promise.resolve(null),
  inspect: () => Promise.resolve({ alive: false, result: { ok: false, error: "no training in this test", permanent: true, durationSeconds: 0 } }),
  stop: () => Promise.resolve(),
  attemptsOnShutdown: "left running",
  shutdown: () => Promise.resolve(),
};

const idleDeployer: ModelDeployer = {
  rollout: () => Promise.resolve(),
  servedVersion: () => Promise.resolve(null),
  rollback: () => Promise.resolve(),
};

interface RequestAnswer {
  id: string;
  commit: string | null;
  state: string;
  run: string | null;
  reason: string | null;
}

interface RunsAnswer {
  watching: { commit: string | null } | null;
  runs: Array<{ id: string; state: string; commit: string | null; trigger: string }>;
  requests?: RequestAnswer[];
}

describe("run requests through the loop", { timeout: 240_000 }, () => {
  const repo = new TestRepo("faceops-requests-repo-");
  const folder = temporaryFolder("faceops-requests-store-");
  const store = new StoreLayout(folder.path);
  let controller: Controller;
  let server: RunningServer;
  let registry: Registry;

  /** The controller as `faceops up` builds it; a new one is a restart. */
  const startController = async () => {
    const watch = new DatasetWatch({ location: repo.path, branch: "main", dataset: configSchema.parse({}).dataset, store, log, env: process.env, credentials: {} });
    controller = new Controller({
      store: new RecordStore(store),
      source: watch,
      executor: failingExecutor,
      deployer: idleDeployer,
      settings: controllerSettings({ activeIntervalMs: 50 }),
      metrics: createControllerMetrics((registry = new Registry())),
      log,
      pollIntervalMs: 600_000,
    });
    await controller.start();
  };

  const addPerson = (person: string, count = 6) => {
    for (const name of readdirSync(join(examples, person)).slice(0, count)) repo.copy(join(examples, person, name), `${person}/${name}`);
  };
  const auth = { Authorization: `Bearer ${token}` };
  const runs = async () => (await (await fetch(`${server.url}/v1/runs?limit=100`, { headers: auth })).json()) as RunsAnswer;
  const ask = (body: unknown) => fetch(`${server.url}/v1/runs`, { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const runFor = (commit: string) =>
    waitFor(`a run for ${commit.slice(0, 8)}`, async () => (await runs()).runs.find((run) => run.commit === commit && ["passed", "failed"].includes(run.state)), { timeoutMs: 60_000, everyMs: 100 });

  before(async () => {
    addPerson(people[0] as string);
    addPerson(people[1] as string);
    repo.commit("Two people");
    const router = controllerRouter({
      store: new RecordStore(store),
      branch: "main",
      apiToken: token,
      webhookSecret: "",
      kick: (trigger) => controller.kick(trigger),
      watching: () => controller.watching,
      resolveCommit: (revision) => controller.resolveCommit(revision),
      log,
    });
    server = await listen(createControllerApp({ router, registry: new Registry(), log, ready: () => true }), { name: "controller", port: 0, host: "127.0.0.1", graceMs: 1000, log });
    await startController();
    await runFor(repo.git("rev-parse", "HEAD").trim());
  });

  after(async () => {
    await controller.stop();
    await server.shutdown("test over");
    repo.dispose();
    folder.dispose();
  });

  test("the reads need the token once one is configured", async () => {
    for (const path of ["/v1/runs", "/v1/runs/1"]) {
      const anonymous = await fetch(`${server.url}${path}`);
      assert.equal(anonymous.status, 401, path);
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /Bearer/);
      assert.equal((await fetch(`${server.url}${path}`, { headers: { Authorization: "Bearer wrong" } })).status, 401, path);
      assert.equal((await fetch(`${server.url}${path}`, { headers: auth })).status, 200, path);
    }
  });

  test("a commit that does not exist is refused with a 4xx naming it, and the loop goes on with new commits", async () => {
    const refused = await ask({ commit: "doesnotexist" });
    assert.ok(refused.status >= 400 && refused.status < 500, `status ${refused.status}`);
    assert.match(JSON.stringify(await refused.json()), /doesnotexist/);
    addPerson(people[2] as string);
    const tip = repo.commit("A third person");
    controller.kick("test");
    await runFor(tip);
    assert.equal((await runs()).watching?.commit, tip);
  });

  test("a recorded request whose commit is gone by the time it is acted on fails with why; a restarted loop goes on", async () => {
    // The loop is stopped (as during a restart) when the request is made; then the commit is deleted.
    await controller.stop();
    repo.git("checkout", "--quiet", "-b", "doomed");
    addPerson(people[0] as string, 8);
    const doomed = repo.commit("More photos on a branch about to be deleted");
    repo.git("checkout", "--quiet", "main");
    const accepted = await ask({ commit: doomed });
    assert.equal(accepted.status, 202);
    const { request } = (await accepted.json()) as { request: RequestAnswer };
    repo.git("branch", "--quiet", "-D", "doomed");
    repo.git("reflog", "expire", "--expire=now", "--all");
    repo.git("gc", "--quiet", "--prune=now");
    addPerson(people[1] as string, 9);
    const tip = repo.commit("More photos of the second person");
    await startController();
    await runFor(tip);
    // The branch is watched again: what waits for training is dated, not 0.
    const untrainedSince = Number(/^faceops_dataset_untrained_since_timestamp_seconds (\S+)$/m.exec(await registry.metrics())?.[1]);
    assert.ok(untrainedSince > 0, `faceops_dataset_untrained_since_timestamp_seconds is ${untrainedSince}`);
    const failed = await waitFor("the request to be resolved", async () => (await runs()).requests?.find((entry) => entry.id === request.id && entry.state !== "pending"), { timeoutMs: 30_000, everyMs: 100 });
    assert.equal(failed.state, "failed");
    assert.match(failed.reason ?? "", new RegExp(`no commit "${doomed}"`));
    const one = (await (await fetch(`${server.url}/v1/requests/${request.id}`, { headers: auth })).json()) as RequestAnswer;
    assert.equal(one.state, "failed");
    // faceops status reads the store directly (no token) and shows it too.
    const status = runCli(["status", "--store", folder.path]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^Requests +0 pending; last failed ${request.id} \\(${doomed}\\): .*no commit`, "m"));
  });

  test("two requests 50 ms apart are both acted on: two runs, each request naming its own", async () => {
    addPerson(people[2] as string, 8);
    const first = repo.commit("More photos of the third person");
    addPerson(people[0] as string, 10);
    const second = repo.commit("And of the first");
    // Both arrive before the loop gets to either (it is busy, or restarting): neither may be lost.
    await controller.stop();
    const answers: Response[] = [await ask({ commit: first })];
    await new Promise((resolve) => setTimeout(resolve, 50));
    answers.push(await ask({ commit: second }));
    assert.deepEqual(answers.map((answer) => answer.status), [202, 202]);
    await startController();
    const runOne = await runFor(first);
    const runTwo = await runFor(second);
    assert.match(runOne.trigger, /^api/);
    assert.match(runTwo.trigger, /^api/);
    const [one, two] = (await Promise.all(answers.map(async (answer) => ((await answer.json()) as { request: RequestAnswer }).request))) as [RequestAnswer, RequestAnswer];
    assert.notEqual(one.id, two.id);
    const resolved = await waitFor("both requests to be resolved", async () => {
      const requests = (await runs()).requests ?? [];
      const states = [one, two].map((asked) => requests.find((entry) => entry.id === asked.id));
      return states.every((entry) => entry?.state === "started") ? states : undefined;
    }, { timeoutMs: 30_000, everyMs: 100 });
    assert.deepEqual(resolved.map((entry) => entry?.run), [runOne.id, runTwo.id]);
    const detail = (await (await fetch(`${server.url}/v1/runs/${runTwo.id}`, { headers: auth })).json()) as RunRecord;
    assert.equal(detail.request, two.id);
  });
});
