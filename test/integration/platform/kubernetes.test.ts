import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../../src/config/load.js";
import { configSchema, type FaceopsConfig } from "../../../src/config/schema.js";
import { Controller } from "../../../src/controller/controller.js";
import { DatasetWatch } from "../../../src/dataset/watch.js";
import { readRun, type RunRecord } from "../../../src/records/runs.js";
import { silentLogger } from "../../../src/log.js";
import { createControllerMetrics } from "../../../src/metrics/controller-metrics.js";
import { KubernetesDeployer, rolloutStatus } from "../../../src/platform/kubernetes/deployer.js";
import { KubernetesExecutor } from "../../../src/platform/kubernetes/executor.js";
import { jobFor, jobName } from "../../../src/platform/kubernetes/job.js";
import { RecordStore } from "../../../src/records/record-store.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { readCurrentModel } from "../../../src/store/models.js";
import { controllerSettings } from "../../helpers/controller-settings.js";
import { waitFor } from "../../helpers/wait.js";
import { temporaryFolder, TestRepo } from "../../helpers/git-repo.js";
import { FakeKubeApiServer } from "../../helpers/kube-apiserver.js";
import { validateKubernetesObject } from "../../helpers/kube-schema.js";

/**
 * The Kubernetes platform with the real @kubernetes/client-node against the fake API server in
 * test/helpers (which validates every object against the official schemas, runs Jobs' commands as
 * local processes and rolls Deployments by restarting a local server). Attempts really train.
 */

const main = resolve(import.meta.dirname, "../../../src/cli/main.ts");
const examples = resolve(import.meta.dirname, "../../../examples");
const namespace = "faceops";
const faceops = [process.execPath, "--import", import.meta.resolve("tsx"), main];

function addPeople(repo: TestRepo, folder: string): void {
  for (const person of readdirSync(folder)) for (const photo of readdirSync(join(folder, person))) repo.copy(join(folder, person, photo), `${person}/${photo}`);
}

/** The Pod Security labels of k8s/base's namespace: each scenario's namespace enforces them as a cluster would. */
function podSecurityLabels(): Record<string, string> {
  const file = resolve(import.meta.dirname, "../../../k8s/base/namespace.yaml");
  const namespace = parseAllDocuments(readFileSync(file, "utf8"))[0]?.toJS() as { metadata?: { labels?: Record<string, string> } } | undefined;
  const labels = Object.fromEntries(Object.entries(namespace?.metadata?.labels ?? {}).filter(([key]) => key.startsWith("pod-security.kubernetes.io/")));
  assert.equal(labels["pod-security.kubernetes.io/enforce"], "restricted", `${file} enforces the restricted profile`);
  return labels;
}

/** The inference Deployment as k8s/base has it (its security settings included), reduced to what the fake runs. */
function inferenceDeployment(namespace: string, name: string, store: string, image = "ghcr.io/faceops/faceops:0.1.0"): k8s.V1Deployment {
  const labels = { "app.kubernetes.io/name": "faceops", "app.kubernetes.io/component": name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels },
    spec: {
      replicas: 1,
      progressDeadlineSeconds: 30,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "faceops",
              image,
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              command: ["faceops"],
              args: ["--log-format", "json", "serve"],
              env: [
                { name: "FACEOPS_STORE", value: store },
                { name: "FACEOPS_MODEL_VERSION", value: "" },
              ],
              ports: [{ name: "http", containerPort: 8080 }],
              readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
}

describe("the Kubernetes platform", { timeout: 600_000 }, () => {
  let cluster: FakeKubeApiServer;
  let kubeConfig: k8s.KubeConfig;
  /** Requests the test itself made (setting up Deployments), kept out of the RBAC comparison. */
  const testRequests = new Set<number>();
  const folders: Array<{ dispose: () => void }> = [];
  const repos: TestRepo[] = [];

  before(async () => {
    cluster = await FakeKubeApiServer.start({
      gpusPerNode: 1,
      baseEnv: { PATH: process.env.PATH, HOME: process.env.HOME },
      localCommand: (container) => {
        if (container.image.includes("broken")) return null;
        if (container.image.includes("failing")) return [process.execPath, "-e", "process.exit(3)"];
        if (container.command?.[0] !== "faceops") return null;
        return [...faceops, ...(container.args ?? [])];
      },
    });
    kubeConfig = cluster.kubeConfig(namespace);
  });

  after(async () => {
    await cluster.stop();
    for (const repo of repos) repo.dispose();
    for (const folder of folders) folder.dispose();
  });

  async function asTest<T>(work: () => Promise<T>): Promise<T> {
    const first = cluster.requests.length;
    try {
      return await work();
    } finally {
      for (let index = first; index < cluster.requests.length; index++) testRequests.add(index);
    }
  }

  /**
   * A store, a repository of 3 example people, a Deployment, the training pods' ServiceAccount (as
   * k8s/base has it; `trainerAccount: false` leaves it out) and a controller on the Kubernetes platform.
   */
  async function setUp(name: string, settings: Record<string, string> = {}, deploymentImage?: string, { trainerAccount = true } = {}) {
    const folder = temporaryFolder(`faceops-k8s-${name}-`);
    folders.push(folder);
    const repo = new TestRepo();
    repos.push(repo);
    addPeople(repo, join(examples, "faces"));
    repo.commit("Three people");
    const store = new StoreLayout(folder.path);
    const deployment = `inference-${name}`;
    // A namespace per scenario, as one controller per namespace is the rule: their runs all start at 1.
    const namespace = `faceops-${name}`;
    cluster.kubeConfig(namespace);
    // Labelled as k8s/base labels its namespace, so the API server refuses a training pod that breaks the restricted profile.
    await asTest(() => kubeConfig.makeApiClient(k8s.CoreV1Api).patchNamespace({ name: namespace, body: { metadata: { labels: podSecurityLabels() } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)));
    const { config } = await loadConfig({
      overrides: Object.entries({
        store: folder.path,
        "source.repo": repo.path,
        "model.backbone": "face-embedding",
        "train.augmentVariants": "1",
        "kubernetes.namespace": namespace,
        "kubernetes.storeMountPath": folder.path,
        "kubernetes.deployment": deployment,
        "kubernetes.gitSecret": "",
        ...settings,
      }).map(([key, value]) => ({ key, value, origin: "test" })),
    });
    await asTest(() => kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({ namespace, body: inferenceDeployment(namespace, deployment, folder.path, deploymentImage) }));
    if (trainerAccount) {
      await asTest(() => kubeConfig.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccount({ namespace, body: { metadata: { name: config.kubernetes.trainerServiceAccount }, automountServiceAccountToken: false } }));
    }
    return { repo, store, config, deployment, namespace, start: () => startController(store, config, repo) };
  }

  async function startController(store: StoreLayout, config: FaceopsConfig, repo: TestRepo): Promise<Controller> {
    const log = silentLogger();
    const namespace = config.kubernetes.namespace;
    let controller: Controller | null = null;
    const executor = new KubernetesExecutor({
      kubeConfig,
      namespace,
      kubernetes: config.kubernetes,
      store,
      log,
      activeDeadlineSeconds: 600,
      onChange: () => controller?.kick("kubernetes"),
    });
    controller = new Controller({
      store: new RecordStore(store, { runConfig: config }),
      source: new DatasetWatch({ location: repo.path, branch: "main", dataset: config.dataset, store, log, env: process.env, credentials: {} }),
      executor,
      deployer: new KubernetesDeployer({ kubeConfig, namespace, deployment: config.kubernetes.deployment, store, log }),
      settings: controllerSettings({ policy: { maxAttempts: 2, maxCrashedAttempts: 1, minAccuracy: 0.9 }, rolloutDeadlineMs: 120_000, activeIntervalMs: 250 }),
      metrics: createControllerMetrics(new Registry()),
      log,
      pollIntervalMs: 500,
    });
    await controller.start();
    return controller;
  }

  const runEnded = (store: StoreLayout, id: string, timeoutMs = 180_000) =>
    waitFor(`run ${id} to end`, async () => {
      const run = await readRun(store, id);
      return run && ["passed", "failed"].includes(run.state) ? run : undefined;
    }, { timeoutMs: timeoutMs, everyMs: 200 });

  const servedVersion = async (namespace: string, deployment: string) => {
    const endpoint = cluster.deploymentEndpoint(namespace, deployment);
    if (!endpoint) return null;
    const response = await fetch(`${endpoint}/v1/model`);
    return response.status === 200 ? ((await response.json()) as { version: string; labels: string[] }) : null;
  };

  test("jobFor builds a valid Job: name, labels, hyperparameters, GPU limit, scheduling and security", () => {
    const job = jobFor({
      runId: "12",
      attempt: 3,
      runCreatedAt: "2026-11-29T03:00:00.000Z",
      commit: "a".repeat(40),
      hyperparameters: { epochs: 15, learningRate: 0.003, dropout: 0.5 },
      reason: "attempt 2 was underfitting",
      namespace,
      activeDeadlineSeconds: 7200,
      // The defaults (trainer image, 1 GPU, store claim and mount, git secret, TTL) with scheduling set.
      kubernetes: {
        ...configSchema.parse({}).kubernetes,
        namespace,
        nodeSelector: { "nvidia.com/gpu.present": "true" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        priorityClassName: "batch-low",
      },
    }) as unknown as k8s.V1Job;
    validateKubernetesObject(job);
    assert.equal(job.metadata?.name, "faceops-12-a3");
    assert.equal(jobName("123456789", 99_999).length <= 63, true);
    assert.deepEqual(JSON.parse(job.metadata?.annotations?.["faceops.io/hyperparameters"] ?? "{}"), { epochs: 15, learningRate: 0.003, dropout: 0.5 });
    assert.equal(job.metadata?.labels?.["faceops.io/dataset-commit"], "a".repeat(40));
    assert.equal(job.metadata?.annotations?.["faceops.io/run-created-at"], "2026-11-29T03:00:00.000Z");
    const pod = job.spec?.template.spec;
    const container = pod?.containers[0];
    assert.deepEqual(container?.args, ["--log-format", "json", "attempt", "--store", "/store", "--run", "12", "--attempt", "3"]);
    assert.equal(container?.resources?.limits?.["nvidia.com/gpu"], "1");
    assert.equal(pod?.priorityClassName, "batch-low");
    assert.equal(pod?.serviceAccountName, "faceops-trainer", "its own ServiceAccount (kubernetes.trainerServiceAccount)");
    assert.equal(pod?.automountServiceAccountToken, false);
    assert.deepEqual(container?.resources?.requests?.["ephemeral-storage"], "2Gi");
    assert.deepEqual(container?.resources?.limits?.["ephemeral-storage"], "2Gi");
    assert.deepEqual(pod?.volumes?.find((volume) => volume.name === "tmp")?.emptyDir, { sizeLimit: "1Gi" }, "a bounded /tmp (kubernetes.trainerTmpSize)");
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(container?.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(container?.securityContext?.capabilities?.drop, ["ALL"]);
    assert.equal(job.spec?.activeDeadlineSeconds, 7200);
    assert.equal(job.spec?.ttlSecondsAfterFinished, 86_400);
    assert.deepEqual(
      container?.env?.find((variable) => variable.name === "FACEOPS_ENGINE_WORKERS")?.valueFrom,
      { resourceFieldRef: { resource: "requests.cpu", divisor: "1" } },
      "one face-path worker per CPU the pod asks for (it has no CPU limit)",
    );
  });

  test("the training pods' settings are checked when the configuration loads, naming the key and the value", async () => {
    for (const [key, value, message] of [
      ["kubernetes.trainerEphemeralStorage", "2GB", "must be a Kubernetes quantity such as 512Mi or 2Gi"],
      ["kubernetes.trainerTmpSize", "-1Gi", "must be a Kubernetes quantity such as 512Mi or 2Gi"],
      ["kubernetes.trainerServiceAccount", "Faceops_Trainer", "must be a ServiceAccount name (DNS subdomain)"],
    ] as const) {
      await assert.rejects(loadConfig({ overrides: [{ key, value, origin: "--set" }] }), { message: `invalid configuration:\n  ${key} = ${JSON.stringify(value)} (from --set): ${message}` });
    }
    const { config } = await loadConfig({ overrides: [{ key: "kubernetes.trainerTmpSize", value: "1.5G", origin: "--set" }] });
    assert.equal(config.kubernetes.trainerTmpSize, "1.5G");
  });

  test("rolloutStatus reads a Deployment the way kubectl rollout status does", () => {
    const deployment = (generation: number, status: k8s.V1DeploymentStatus, replicas = 2): k8s.V1Deployment => ({ metadata: { name: "d", generation }, spec: { replicas, selector: {}, template: {} }, status });
    const progressing = (reason: string): k8s.V1DeploymentCondition => ({ type: "Progressing", status: reason === "ProgressDeadlineExceeded" ? "False" : "True", reason, message: `replica set is ${reason}` });
    assert.deepEqual(rolloutStatus(deployment(3, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })), { done: false, failure: null }, "not observed yet");
    assert.deepEqual(rolloutStatus(deployment(3, { observedGeneration: 3, updatedReplicas: 1, replicas: 3, availableReplicas: 2 })), { done: false, failure: null }, "still rolling");
    assert.deepEqual(rolloutStatus(deployment(3, { observedGeneration: 3, updatedReplicas: 2, replicas: 3, availableReplicas: 2 })), { done: false, failure: null }, "old replicas pending termination");
    assert.deepEqual(rolloutStatus(deployment(3, { observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 2, conditions: [progressing("NewReplicaSetAvailable")] })), { done: true, failure: null });
    const stuck = rolloutStatus(deployment(3, { observedGeneration: 3, updatedReplicas: 1, replicas: 3, availableReplicas: 2, conditions: [progressing("ProgressDeadlineExceeded")] }));
    assert.match(stuck.failure ?? "", /exceeded its progress deadline: replica set is ProgressDeadlineExceeded/);
    assert.equal(rolloutStatus(deployment(4, { observedGeneration: 3, conditions: [progressing("ProgressDeadlineExceeded")] })).failure, null, "a stale condition of an older template");
  });

  test("a push produces a Job with the right spec that trains and passes; the Deployment rolls and the served model changes", async () => {
    const setup = await setUp("happy", { "kubernetes.gpus": "1" });
    const controller = await setup.start();
    try {
      const first = await runEnded(setup.store, "1");
      assert.equal(first.state, "passed", first.reason ?? "");
      const job = cluster.getObject("jobs", setup.namespace, "faceops-1-a1");
      assert.ok(job, "the Job exists");
      validateKubernetesObject(job);
      const spec = job.spec as k8s.V1JobSpec;
      assert.equal(spec.template.spec?.containers[0]?.resources?.limits?.["nvidia.com/gpu"], "1");
      assert.equal((job.metadata as k8s.V1ObjectMeta).labels?.["faceops.io/dataset-commit"], first.commit);
      const served = await waitFor("v1 served by the Deployment", async () => ((await servedVersion(setup.namespace, setup.deployment))?.version === "v1" ? true : undefined), 60_000);
      assert.equal(served, true);

      addPeople(setup.repo, join(examples, "newcomer"));
      setup.repo.commit("Add Vladimir Putin");
      const second = await runEnded(setup.store, "2");
      assert.equal(second.state, "passed", second.reason ?? "");
      const now = await servedVersion(setup.namespace, setup.deployment);
      assert.equal(now?.version, "v2");
      assert.equal(now?.labels.length, 4);
      const deployment = cluster.getObject("deployments", setup.namespace, setup.deployment) as unknown as k8s.V1Deployment;
      assert.equal(deployment.spec?.template.metadata?.annotations?.["faceops.io/model-version"], "v2");
    } finally {
      await controller.stop();
    }
  });

  test("the controller stopped and restarted mid-Job adopts the Job: one create for that name", async () => {
    const setup = await setUp("restart");
    let controller = await setup.start();
    await waitFor("the Job of run 1 to be running", () => ((cluster.getObject("jobs", setup.namespace, "faceops-1-a1")?.status as k8s.V1JobStatus | undefined)?.active ? true : undefined), { timeoutMs: 60_000, everyMs: 50 });
    await controller.stop();
    controller = await setup.start();
    try {
      const run = await runEnded(setup.store, "1");
      assert.equal(run.state, "passed", run.reason ?? "");
      assert.equal(run.attempts.length, 1);
      assert.equal(run.attempts[0]?.executions, 1);
      assert.equal(cluster.createCount("jobs", setup.namespace, "faceops-1-a1"), 1);
    } finally {
      await controller.stop();
    }
  });

  test("a Job a wiped store left under the same name is not adopted: the attempt fails and says how to clear it", async () => {
    const setup = await setUp("leftover", { "kubernetes.gpus": "0" });
    const leftover = jobFor({
      runId: "1",
      attempt: 1,
      runCreatedAt: "2026-01-01T00:00:00.000Z",
      commit: null,
      hyperparameters: { epochs: 5, learningRate: 0.001, dropout: 0.5 },
      reason: "a run of an earlier store",
      namespace: setup.namespace,
      activeDeadlineSeconds: 600,
      kubernetes: { ...setup.config.kubernetes, trainerImage: "registry.example/broken:1" },
    }) as k8s.V1Job;
    await asTest(() => kubeConfig.makeApiClient(k8s.BatchV1Api).createNamespacedJob({ namespace: setup.namespace, body: leftover }));
    const controller = await setup.start();
    try {
      const run = await runEnded(setup.store, "1", 60_000);
      assert.equal(run.state, "failed");
      assert.match(run.attempts[0]?.error ?? "", /a Job named faceops-1-a1 exists in faceops-leftover but it is not attempt 1 of run 1 created at .*2026-01-01T00:00:00\.000Z.*kubectl -n faceops-leftover delete job faceops-1-a1/);
      const job = cluster.getObject("jobs", setup.namespace, "faceops-1-a1");
      assert.equal((job?.metadata as k8s.V1ObjectMeta | undefined)?.annotations?.["faceops.io/run-created-at"], "2026-01-01T00:00:00.000Z", "the leftover is left for a person to look at");
    } finally {
      await controller.stop();
    }
  });

  test("a Job kept Pending (unschedulable) is shown with the scheduler's message and fails its attempt after pendingTimeout", async () => {
    const setup = await setUp("pending", { "kubernetes.gpus": "4", "kubernetes.pendingTimeout": "2s" });
    const controller = await setup.start();
    try {
      const waiting = await waitFor("the attempt to wait for the scheduler", async () => (await readRun(setup.store, "1"))?.attempts[0]?.waiting ?? undefined, { timeoutMs: 60_000, everyMs: 100 });
      assert.match(waiting, /waiting to be scheduled: 0\/3 nodes are available: 3 Insufficient nvidia\.com\/gpu/);
      const run: RunRecord = await runEnded(setup.store, "1", 60_000);
      assert.equal(run.state, "failed");
      assert.equal(run.attempts[0]?.state, "crashed");
      assert.match(run.attempts[0]?.error ?? "", /Job faceops-1-a1 could not be scheduled for \d+ s: 0\/3 nodes are available/);
      await waitFor("the pending Job to be deleted", () => (cluster.getObject("jobs", setup.namespace, "faceops-1-a1") ? undefined : true), 30_000);
      assert.equal(await readCurrentModel(setup.store), null, "nothing was deployed");
    } finally {
      await controller.stop();
    }
  });

  test("a Job whose pods the API server refuses (no ServiceAccount) fails its attempt after pendingTimeout, with the refusal", async () => {
    const setup = await setUp("no-account", { "kubernetes.gpus": "0", "kubernetes.pendingTimeout": "2s" }, undefined, { trainerAccount: false });
    const controller = await setup.start();
    try {
      const run = await runEnded(setup.store, "1", 60_000);
      assert.equal(run.state, "failed");
      assert.equal(run.attempts[0]?.state, "crashed");
      assert.match(
        run.attempts[0]?.error ?? "",
        new RegExp(
          `^Job faceops-1-a1 created no pod in \\d+ s: Error creating: pods "faceops-1-a1-" is forbidden: error looking up service account ${setup.namespace}/faceops-trainer: serviceaccount "faceops-trainer" not found ` +
            `\\(see kubectl -n ${setup.namespace} describe job faceops-1-a1; the training pods run as the ServiceAccount faceops-trainer, which must exist\\)$`,
        ),
      );
      await waitFor("the Job to be deleted", () => (cluster.getObject("jobs", setup.namespace, "faceops-1-a1") ? undefined : true), 30_000);
    } finally {
      await controller.stop();
    }
  });

  test("a failed Job is a failed attempt, with Kubernetes' reason and the exit code", async () => {
    const setup = await setUp("failing", { "kubernetes.trainerImage": "registry.example/failing:1", "kubernetes.gpus": "0" });
    const controller = await setup.start();
    try {
      const run = await runEnded(setup.store, "1", 60_000);
      assert.equal(run.state, "failed");
      assert.equal(run.attempts[0]?.state, "crashed");
      assert.match(run.attempts[0]?.error ?? "", /Job faceops-1-a1 failed: BackoffLimitExceeded.*\(exit code 3\)/);
    } finally {
      await controller.stop();
    }
  });

  test("a rollout that never becomes available is rolled back, and why is recorded", async () => {
    const setup = await setUp("stuck", { "kubernetes.gpus": "0" }, "registry.example/broken:1");
    await asTest(() =>
      kubeConfig.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment(
        { namespace: setup.namespace, name: setup.deployment, body: { spec: { progressDeadlineSeconds: 3 } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      ),
    );
    const controller = await setup.start();
    try {
      const run = await runEnded(setup.store, "1");
      assert.equal(run.state, "failed");
      assert.equal(run.promotion?.state, "rolled-back");
      assert.match(run.reason ?? "", /rollout failed: Deployment inference-stuck exceeded its progress deadline.*; no model serves again/);
      assert.equal(await readCurrentModel(setup.store), null);
      const deployment = cluster.getObject("deployments", setup.namespace, setup.deployment) as unknown as k8s.V1Deployment;
      assert.equal(deployment.spec?.template.metadata?.annotations?.["faceops.io/model-version"], "");
    } finally {
      await controller.stop();
    }
  });

  test("RBAC: the (resource, verb) pairs the code used are exactly what the Role in k8s/base grants", () => {
    const used = new Set(
      cluster.requests
        .filter((_request, index) => !testRequests.has(index))
        .map((request) => `${request.group}/${request.resource}${request.subresource ? `/${request.subresource}` : ""}:${request.verb}`),
    );
    const base = resolve(import.meta.dirname, "../../../k8s/base");
    const role = readdirSync(base)
      .filter((name) => name.endsWith(".yaml"))
      .flatMap((name) => parseAllDocuments(readFileSync(join(base, name), "utf8")).map((document) => document.toJS() as { kind?: string; rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }))
      .find((object) => object?.kind === "Role");
    assert.ok(role?.rules, "k8s/base has a Role");
    const granted = new Set(role.rules.flatMap((rule) => rule.apiGroups.flatMap((group) => rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource}:${verb}`)))));
    assert.deepEqual([...used].sort(), [...granted].sort());
  });
});
