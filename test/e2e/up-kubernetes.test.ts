import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { StoreLayout } from "../../src/store/layout.js";
import { startListeningFaceops, type ListeningFaceops } from "../helpers/faceops-process.js";
import { waitFor } from "../helpers/wait.js";
import { temporaryFolder, TestRepo } from "../helpers/git-repo.js";
import { FakeKubeApiServer } from "../helpers/kube-apiserver.js";

/**
 * `faceops up --platform kubernetes` as the controller Deployment runs it, a real process against the
 * fake API server: the controller's own server (probes, metrics, API) and the Kubernetes platform
 * wired to one controller, and its shutdown on SIGTERM. The fake schedules no training pod (its
 * nodes have no GPU), so the attempt's Job is created and waits: what the platform does with Jobs
 * is test/platform/kubernetes.test.ts' subject.
 */

const examples = resolve(import.meta.dirname, "../../examples/faces");
const namespace = "faceops-up";

describe("faceops up --platform kubernetes", { timeout: 180_000 }, () => {
  let cluster: FakeKubeApiServer;
  let kubeConfig: k8s.KubeConfig;
  const folder = temporaryFolder("faceops-up-kubernetes-");
  const store = new StoreLayout(join(folder.path, "store"));
  const repo = new TestRepo();
  let up: ListeningFaceops;
  /** Everything the process logged (JSON lines). */
  let logged = "";

  before(async () => {
    for (const person of readdirSync(examples)) for (const photo of readdirSync(join(examples, person))) repo.copy(join(examples, person, photo), `${person}/${photo}`);
    repo.commit("Three people");
    cluster = await FakeKubeApiServer.start({ localCommand: () => null, gpusPerNode: 0 });
    kubeConfig = cluster.kubeConfig(namespace);
    await kubeConfig.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccount({ namespace, body: { metadata: { name: "faceops-trainer" }, automountServiceAccountToken: false } });
    // The inference Deployment the controller rolls (kubernetes.deployment), as k8s/base has one; nothing is in service yet.
    const labels = { "app.kubernetes.io/name": "faceops", "app.kubernetes.io/component": "inference" };
    await kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "faceops-inference", labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: "faceops", image: "ghcr.io/faceops/faceops:0.1.0", command: ["faceops"], args: ["serve"] }] } },
        },
      },
    });
    const kubeConfigFile = join(folder.path, "kubeconfig");
    writeFileSync(kubeConfigFile, kubeConfig.exportConfig());
    up = await startListeningFaceops(
      [
        "--log-format", "json",
        "--store", store.root,
        "--set", `source.repo=${repo.path}`,
        "--set", "serve.port=0",
        "--set", "serve.host=127.0.0.1",
        "--set", "controller.pollInterval=500ms",
        "--set", "kubernetes.gitSecret=",
        "--set", `kubernetes.storeMountPath=${store.root}`,
        "up", "--platform", "kubernetes",
      ],
      { what: "faceops up --platform kubernetes", listener: "controller", env: { KUBECONFIG: kubeConfigFile } },
    );
    logged = up.output;
    up.child.stderr?.on("data", (chunk: Buffer) => (logged += chunk.toString("utf8")));
  });

  after(async () => {
    up?.child.kill("SIGKILL");
    await up?.exited;
    await cluster?.stop();
    repo.dispose();
    folder.dispose();
  });

  test("alive at once, ready once its loop runs, with the controller's and the process' metrics on one /metrics", async () => {
    assert.deepEqual(await (await fetch(`${up.url}/healthz`)).json(), { status: "ok" });
    const ready = await waitFor("the controller ready", async () => {
      const response = await fetch(`${up.url}/readyz`);
      return response.status === 200 ? await response.json() : undefined;
    }, 60_000);
    assert.deepEqual(ready, { ready: true });
    const metrics = await (await fetch(`${up.url}/metrics`)).text();
    assert.match(metrics, /^faceops_runs_total\{outcome="passed"\} 0$/m);
    assert.match(metrics, /^process_cpu_seconds_total /m);
    assert.doesNotMatch(metrics, /nodejs_active_handles_total/, "the misnamed default gauges are left out");
  });

  test("the repository's commit becomes a run whose attempt is a Job in the namespace; the API reads it and refuses to ask without a token", async () => {
    const runs = await waitFor("run 1 with an attempt", async () => {
      const body = (await (await fetch(`${up.url}/v1/runs`)).json()) as { runs: Array<{ id: string; attempts: number }> };
      return body.runs.find((run) => run.id === "1" && run.attempts === 1) ? body.runs : undefined;
    }, 60_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; the process logged:\n${logged}`);
    });
    assert.equal(runs.length, 1);
    const jobs = await waitFor("the attempt's Job", async () => {
      const list = await kubeConfig.makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace });
      return list.items.length > 0 ? list.items : undefined;
    }, 30_000);
    assert.equal(jobs.length, 1);
    assert.match(jobs[0]?.metadata?.name ?? "", /^faceops-[0-9a-f]+-a1$/);
    const ask = await fetch(`${up.url}/v1/runs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(ask.status, 403);
    assert.equal(((await ask.json()) as { error: { code: string } }).error.code, "api_token_not_configured");
  });

  test("SIGTERM: exits 0, says the Jobs keep running, leaves the Job alone and releases the store's lock", async () => {
    assert.ok(existsSync(store.controllerLock), "the running controller holds the lock");
    up.child.kill("SIGTERM");
    assert.deepEqual(await up.exited, { code: 0, signal: null });
    const messages = logged
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    const order = ["faceops controller is up on Kubernetes", "stopping the controller; training Jobs keep running and are adopted at the next start", "shutting down: finishing in-flight requests", "controller stopped", "shut down"];
    assert.deepEqual(messages.filter((message) => order.includes(message)), order);
    assert.equal(existsSync(store.controllerLock), false, "the lock is released");
    const jobs = await kubeConfig.makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace });
    assert.equal(jobs.items.length, 1, "the Job is left to run; the next controller adopts it");
  });
});
