import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { RunRecord } from "../../src/records/runs.js";
import { centredIn } from "../helpers/composite.js";
import { runCli } from "../helpers/cli.js";
import { FaceopsUp, getJson, quickUpArguments } from "../helpers/faceops-up.js";
import { waitFor } from "../helpers/wait.js";
import { TestRepo, temporaryFolder } from "../helpers/git-repo.js";
import { lfwPhotos } from "../helpers/lfw.js";
import { promtoolCheckMetrics } from "../helpers/promtool.js";
import { promtool, requires } from "../helpers/tools.js";

/**
 * The whole system on one machine, as a user runs it: a real git repository of faces, `faceops up`
 * as a real process, attempts as real child processes, the inference service answering over HTTP.
 * The scenarios build on each other (one repository, one store), as a team's history would.
 */

const examples = resolve(import.meta.dirname, "../../examples");
const webhookSecret = "e2e-webhook-secret";
const apiToken = "e2e-api-token";

interface RunsAnswer {
  watching: { commit: string | null; fingerprint: string | null } | null;
  runs: Array<{ id: string; state: string; version: string | null; attempts: number }>;
}

describe("faceops up, end to end", { timeout: 900_000 }, () => {
  const repo = new TestRepo("faceops-e2e-faces-");
  const store = temporaryFolder("faceops-e2e-store-");
  let up: FaceopsUp | null = null;

  const settings = (extra: string[] = []) => quickUpArguments(store.path, repo.path, extra);
  const env = { FACEOPS_WEBHOOK_SECRET: webhookSecret, FACEOPS_API_TOKEN: apiToken };
  const start = async (extra: string[] = []) => (up = await FaceopsUp.start(settings(extra), { env }));
  const server = () => {
    if (!up) throw new Error("faceops up is not running");
    return up;
  };

  // With a token configured, the reads need it too.
  const authorised = { headers: { Authorization: `Bearer ${apiToken}` } };
  const runs = async () => (await getJson<RunsAnswer>(`${server().url}/v1/runs`, authorised)).body;
  const run = async (id: string) => (await getJson<RunRecord>(`${server().url}/v1/runs/${id}`, authorised)).body;
  const servedModel = async () => {
    const answer = await getJson<{ version: string; labels: string[] }>(`${server().url}/v1/model`);
    return answer.status === 200 ? answer.body : null;
  };
  const waitForRunEnd = (id: string, timeoutMs = 150_000) =>
    waitFor(`run ${id} to end`, async () => {
      const found = await run(id).catch(() => null);
      return found && ["passed", "failed", "superseded"].includes(found.state) ? found : undefined;
    }, timeoutMs);
  const waitForWatching = (commit: string) =>
    waitFor(`the controller to check ${commit.slice(0, 8)}`, async () => ((await runs()).watching?.commit === commit ? true : undefined), 60_000);
  const predict = async (photo: string) => {
    const response = await fetch(`${server().url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: readFileSync(photo) });
    assert.equal(response.status, 200);
    return ((await response.json()) as { model: { version: string }; results: Array<{ label: string }> });
  };
  const addPerson = (person: string, photos: string[]) => {
    for (const photo of photos) repo.copy(photo, `${person}/${photo.split("/").at(-1)}`);
  };
  const webhook = (body: string, signature: string | null) =>
    fetch(`${server().url}/v1/webhook`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-GitHub-Event": "push", ...(signature ? { "X-Hub-Signature-256": signature } : {}) },
      body,
    });

  let examplePhotos = 0;
  before(() => {
    for (const person of readdirSync(join(examples, "faces"))) {
      examplePhotos += readdirSync(join(examples, "faces", person)).length;
      addPerson(person, readdirSync(join(examples, "faces", person)).map((name) => join(examples, "faces", person, name)));
    }
    repo.commit("Three people");
  });

  after(async () => {
    await up?.stop();
    repo.dispose();
    store.dispose();
  });

  test("photos of 3 people: a version is trained, passes, is served, and recognises a held-out photo", async () => {
    await start();
    const served = await waitFor("v1 in service", async () => ((await servedModel())?.version === "v1" ? await servedModel() : undefined), 150_000);
    assert.equal(served?.labels.length, 3);
    // The server may load v1 from the pointer a moment before the controller records the confirmation.
    const first = await waitForRunEnd("1", 30_000);
    assert.equal(first.state, "passed");
    assert.equal(first.attempts.length, 1);
    assert.equal(first.attempts[0]?.gate?.pass, true);
    assert.match(first.attempts[0]?.gate?.reason ?? "", /nothing is deployed yet/);
    // The run's record says what training found of the faces of the photos. A few LFW photos show
    // someone else in the background; each is trained on its subject, whom LFW centres in the photo.
    const result = first.attempts[0]?.result;
    assert.ok(result?.ok && result.faces, JSON.stringify(result));
    const { faces } = result;
    assert.equal(faces.photos, examplePhotos);
    assert.equal(Object.values(faces.facesFound).reduce((sum, photos) => sum + photos, 0), examplePhotos);
    const several = faces.warnings.filter((warning) => warning.reason === "multiple_faces");
    assert.equal(several.length, examplePhotos - (faces.facesFound["1"] ?? 0) - (faces.facesFound["0"] ?? 0), JSON.stringify(faces));
    for (const { box, path } of several) {
      assert.ok(box && centredIn(box, { x: 85, y: 85, width: 80, height: 80 }), `${path}: the subject's face, in the middle of the 250x250 photo: ${JSON.stringify(box)}`);
    }
    const heldOut = lfwPhotos("Serena_Williams").find((photo) => !photo.endsWith("_0001.jpg") && Number(/_(\d+)\.jpg$/.exec(photo)?.[1]) > 20) as string;
    const answer = await predict(heldOut);
    assert.equal(answer.results[0]?.label, "Serena_Williams");
    assert.equal(answer.model.version, "v1");
  });

  test("photos of a 4th person: v2 with 4 labels is served; v1 serves until then", async () => {
    addPerson("Vladimir_Putin", readdirSync(join(examples, "newcomer", "Vladimir_Putin")).map((name) => join(examples, "newcomer", "Vladimir_Putin", name)));
    repo.commit("Add Vladimir Putin");
    // While run 2 trains, v1 answers: watch both until the run ends.
    await waitFor("run 2 to start", async () => ((await runs()).runs.some((entry) => entry.id === "2") ? true : undefined), 60_000);
    const untrainedSince = Number(/^faceops_dataset_untrained_since_timestamp_seconds (\S+)$/m.exec(await (await fetch(`${server().url}/metrics`)).text())?.[1]);
    assert.ok(untrainedSince > Date.now() / 1000 - 600, `the new photos wait for training since they were seen, not ${untrainedSince}`);
    const servedWhileTraining = new Set<string>();
    const ended = await waitFor("run 2 to end", async () => {
      const state = (await run("2")).state;
      const version = (await servedModel())?.version ?? "none";
      if (state === "running") servedWhileTraining.add(version);
      return ["passed", "failed"].includes(state) ? run("2") : undefined;
    }, { timeoutMs: 150_000, everyMs: 100 });
    assert.deepEqual([...servedWhileTraining], ["v1"]);
    assert.equal(ended.state, "passed", ended.reason ?? "");
    const served = await waitFor("v2 in service", async () => ((await servedModel())?.version === "v2" ? await servedModel() : undefined), 30_000);
    assert.deepEqual(served?.labels, ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams", "Vladimir_Putin"]);
    const heldOut = lfwPhotos("Vladimir_Putin").find((photo) => Number(/_(\d+)\.jpg$/.exec(photo)?.[1]) > 30) as string;
    assert.equal((await predict(heldOut)).results[0]?.label, "Vladimir_Putin");
  });

  test("a README-only commit starts no run", async () => {
    repo.write("README.md", "# Our team's faces\n");
    const commit = repo.commit("Describe the repository");
    await waitForWatching(commit);
    const after = await runs();
    assert.equal(after.runs.length, 2);
    assert.deepEqual(after.runs.map((entry) => entry.state), ["passed", "passed"]);
  });

  test("a commit with a corrupt photo: the photo is skipped and reported, and the run happens", async () => {
    repo.write("Hugo_Chavez/scanned-badly.jpg", Buffer.concat([readFileSync(lfwPhotos("Hugo_Chavez")[0] as string).subarray(0, 600)]));
    addPerson("Hugo_Chavez", lfwPhotos("Hugo_Chavez").slice(20, 23));
    repo.commit("More Hugo, one photo truncated");
    const ended = await waitForRunEnd("3");
    assert.equal(ended.state, "passed", ended.reason ?? "");
    const rejected = ended.dataset.rejected.map((entry) => entry.path);
    assert.deepEqual(rejected, ["Hugo_Chavez/scanned-badly.jpg"]);
    await waitFor("v3 in service", async () => ((await servedModel())?.version === "v3" ? true : undefined), 30_000);
  });

  test("/metrics has the controller's metrics beside the server's, and promtool accepts them", async (t) => {
    const text = await (await fetch(`${server().url}/metrics`)).text();
    assert.match(text, /^faceops_runs_total\{outcome="passed"\} 3$/m);
    assert.match(text, /^faceops_attempts_total\{outcome="passed"\} 3$/m);
    assert.match(text, /^faceops_deployed_model_info\{version="v3",dataset_commit="[0-9a-f]{40}"\} 1$/m);
    assert.match(text, /^faceops_dataset_rejected_files 1$/m);
    assert.match(text, /^faceops_dataset_photos\{split="test"\} \d+$/m);
    assert.match(text, /^faceops_last_run_accuracy (0\.9\d*|1)$/m);
    assert.match(text, /^faceops_attempt_duration_seconds_count 3$/m);
    assert.match(text, /^faceops_attempt_accuracy_count 3$/m);
    assert.match(text, /^faceops_attempts_pending 0$/m);
    assert.match(text, /^faceops_deployed_model_accuracy (0\.9\d*|1)$/m);
    const promoted = Number(/^faceops_deployed_model_promoted_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    assert.ok(promoted > Date.now() / 1000 - 600 && promoted <= Date.now() / 1000, `v3 was promoted minutes ago, not at ${promoted}`);
    // v3 was trained on the branch tip: no data waits for training.
    assert.match(text, /^faceops_dataset_untrained_since_timestamp_seconds 0$/m);
    assert.match(text, /^request_predict_seconds_count\{model_name="faces"\} \d+$/m);
    if (!requires(t, promtool)) return;
    const { status, output } = await promtoolCheckMetrics(text);
    assert.equal(status, 0, output);
    assert.equal(output.trim(), "", `promtool has remarks: ${output}`);
  });

  test("webhooks: a wrong or missing signature is refused with 401 and triggers nothing; a signed push is accepted", async () => {
    const body = JSON.stringify({ ref: "refs/heads/main", after: "0".repeat(40) });
    const wrong = await webhook(body, `sha256=${createHmac("sha256", "not-the-secret").update(body).digest("hex")}`);
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, "invalid_signature");
    assert.equal((await webhook(body, null)).status, 401);
    const signed = await webhook(body, `sha256=${createHmac("sha256", webhookSecret).update(body).digest("hex")}`);
    assert.equal(signed.status, 202);
    assert.equal((await runs()).runs.length, 3);
    const unauthorised = await fetch(`${server().url}/v1/runs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(unauthorised.status, 401);
    assert.equal((await fetch(`${server().url}/v1/runs`)).status, 401, "the runs (people's names, paths) are not read without the token");
    assert.equal((await fetch(`${server().url}/v1/runs/1`)).status, 401);
  });

  test("a run request for a commit that does not exist is refused, and the controller goes on", async () => {
    const refused = await fetch(`${server().url}/v1/runs`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${apiToken}` },
      body: JSON.stringify({ commit: "doesnotexist" }),
    });
    assert.equal(refused.status, 422);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /no commit "doesnotexist"/);
    repo.write("NOTES.md", "Photos are LFW's.\n");
    await waitForWatching(repo.commit("Notes"));
  });

  test("kill -9 of the controller during an attempt, then a restart: the attempt is adopted; exactly one completed attempt 1", async () => {
    addPerson("Tony_Blair", lfwPhotos("Tony_Blair").slice(0, 20));
    repo.commit("Add Tony Blair");
    const lock = join(store.path, "runs", "4", "attempt-1", "process.json");
    await waitFor("attempt 1 of run 4 to be running", () => {
      try {
        return readFileSync(lock, "utf8").includes('"pid"') ? true : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000, everyMs: 50 });
    await server().kill9();
    await start();
    const ended = await waitForRunEnd("4");
    assert.equal(ended.state, "passed", ended.reason ?? "");
    assert.equal(ended.attempts.length, 1);
    assert.equal(ended.attempts[0]?.executions, 1, "the running attempt was adopted, not started again");
    const log = readFileSync(join(store.path, "runs", "4", "attempt-1", "attempt.log"), "utf8");
    assert.equal(log.split("\n").filter((line) => line.includes('"msg":"attempt finished"')).length, 1);
  });

  test("kill -9 of the controller and of its attempt: the attempt is lost and re-run under the same number; one completes", async () => {
    addPerson("Colin_Powell", lfwPhotos("Colin_Powell").slice(0, 20));
    repo.commit("Add Colin Powell");
    const lock = join(store.path, "runs", "5", "attempt-1", "process.json");
    const holder = await waitFor("attempt 1 of run 5 to be running", () => {
      try {
        return JSON.parse(readFileSync(lock, "utf8")) as { pid: number };
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000, everyMs: 50 });
    await server().kill9();
    process.kill(-holder.pid, "SIGKILL");
    await start();
    const ended = await waitForRunEnd("5");
    assert.equal(ended.state, "passed", ended.reason ?? "");
    assert.equal(ended.attempts.length, 1, JSON.stringify(ended.attempts.map(({ number, state, executions, error }) => ({ number, state, executions, error }))));
    assert.equal(ended.attempts[0]?.executions, 2);
    assert.equal(ended.attempts[0]?.state, "finished");
    assert.match(ended.attempts[0]?.error ?? "", /ended without a result; re-run under the same number/);
  });

  test("a gate the first attempt cannot pass: tweaked attempts with reasons, at most maxAttempts, nothing deployed", async () => {
    await server().stop();
    await start(["--set", "train.epochs=1", "--set", "train.learningRate=1e-6", "--set", "controller.maxAttempts=3"]);
    const before = await waitFor("the served model after the restart", async () => (await servedModel()) ?? undefined, 60_000);
    addPerson("George_W_Bush", lfwPhotos("George_W_Bush").slice(0, 20));
    repo.commit("Add George W Bush");
    const ended = await waitForRunEnd("6", 240_000);
    assert.equal(ended.state, "failed");
    assert.ok(ended.attempts.length >= 2 && ended.attempts.length <= 3, `${ended.attempts.length} attempts`);
    assert.deepEqual(ended.attempts[0]?.hyperparameters, { epochs: 1, learningRate: 1e-6, dropout: 0.5 });
    for (const attempt of ended.attempts.slice(1)) {
      assert.notDeepEqual(attempt.hyperparameters, ended.attempts[0]?.hyperparameters);
      assert.match(attempt.reason, /^attempt \d+ was \w+ \(.+\); attempt \d+ tries /);
    }
    for (const attempt of ended.attempts) assert.equal(attempt.gate?.pass, false);
    assert.match(ended.reason ?? "", /nothing was deployed/);
    assert.equal(ended.promotion, null);
    assert.equal((await servedModel())?.version, before?.version);
  });

  test("faceops status shows the model in service and the runs, as a table and as JSON", () => {
    const table = runCli(["status", "--store", store.path]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^In service {3}v5: 6 people, test accuracy \d+\.\d%/m);
    assert.match(table.stdout, /^RUN +STATE +COMMIT/m);
    assert.match(table.stdout, /^6 +failed +[0-9a-f]{12} .*nothing was deployed/m);
    const json = runCli(["status", "--store", store.path, "--json"]);
    const parsed = JSON.parse(json.stdout) as { model: { version: string }; activeRun: unknown; runs: Array<{ id: string; state: string }> };
    assert.equal(parsed.model.version, "v5");
    assert.equal(parsed.activeRun, null);
    assert.deepEqual(parsed.runs.map((entry) => entry.state), ["failed", "passed", "passed", "passed", "passed", "passed"]);
  });
});
