import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { waitFor } from "../../helpers/wait.js";
import { FakeKubeApiServer } from "../../helpers/kube-apiserver.js";

/**
 * The fake Kubernetes API server (test/helpers/kube-apiserver.ts), driven by the real
 * @kubernetes/client-node exactly as faceops' Kubernetes code drives a cluster.
 */

interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason: string; message: string; field: string }[] };
}

/** Awaits a call that must fail with an ApiException; returns its code and parsed Status body. */
async function apiError(call: Promise<unknown>): Promise<{ code: number; status: StatusBody }> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof k8s.ApiException, `expected an ApiException, got ${String(error)}`);
    const exception = error as k8s.ApiException<string>;
    return { code: exception.code, status: JSON.parse(exception.body) as StatusBody };
  }
  return assert.fail("the call succeeded");
}

/** Polls `check` every 50 ms until it returns something other than undefined (30 s at most). */
const until = <T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> => waitFor(what, check, { timeoutMs: 30_000, everyMs: 50 });

const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
const strategicPatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);
const jsonPatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);

/** A tiny HTTP server as a Deployment's container: /readyz for the probe, GREETING at every other path. */
const echoServer = [
  "node",
  "-e",
  `require("node:http").createServer((req, res) => res.end(req.url === "/readyz" ? "ok" : String(process.env.GREETING))).listen(Number(process.env.FACEOPS_SERVE_PORT), process.env.FACEOPS_SERVE_HOST)`,
];

function webDeployment(name: string, greeting: string): k8s.V1Deployment {
  return {
    metadata: { name, labels: { app: name, tier: "serve" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "web",
              image: "registry.example/faceops:1",
              command: echoServer,
              env: [
                { name: "GREETING", value: greeting },
                { name: "OTHER", value: "kept" },
              ],
              readinessProbe: { httpGet: { path: "/readyz", port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
}

function job(name: string, command: string[], spec: Partial<k8s.V1JobSpec> = {}, container: Partial<k8s.V1Container> = {}): k8s.V1Job {
  return {
    metadata: { name },
    spec: { ...spec, template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "registry.example/faceops:1", command, ...container }] } } },
  };
}

function condition(conditions: { type: string; status: string; reason?: string; message?: string }[] | undefined, type: string): { status: string; reason?: string; message?: string } | undefined {
  return conditions?.find((candidate) => candidate.type === type);
}

describe("fake kube-apiserver driven by @kubernetes/client-node", { timeout: 180_000 }, () => {
  let server: FakeKubeApiServer;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let batch: k8s.BatchV1Api;
  let apps: k8s.AppsV1Api;

  before(async () => {
    server = await FakeKubeApiServer.start({
      baseEnv: { PATH: process.env.PATH, HOME: process.env.HOME },
      localCommand: ({ command = [], args = [] }) => {
        if (command[0] === "node") return [process.execPath, ...command.slice(1), ...args];
        if (command[0] === "sleep") return [process.execPath, "-e", `setTimeout(() => {}, ${Number(command[1] ?? args[0]) * 1000})`];
        return null;
      },
    });
    kc = server.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    batch = kc.makeApiClient(k8s.BatchV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
  });

  after(async () => {
    await server.stop();
  });

  async function namespace(name: string): Promise<string> {
    await core.createNamespace({ body: { metadata: { name } } });
    return name;
  }

  test("namespaces, a bearer token, and discovery", async () => {
    const ns = await namespace("basics");
    const read = await core.readNamespace({ name: ns });
    assert.equal(read.status?.phase, "Active");
    assert.equal(read.metadata?.labels?.["kubernetes.io/metadata.name"], ns);
    const conflict = await apiError(core.createNamespace({ body: { metadata: { name: ns } } }));
    assert.equal(conflict.code, 409);
    const anonymous = await fetch(`${server.url}/api/v1/namespaces`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as StatusBody).reason, "Unauthorized");
    const versions = await kc.makeApiClient(k8s.CoreApi).getAPIVersions();
    assert.deepEqual(versions.versions, ["v1"]);
    const missing = await apiError(core.readNamespacedPod({ namespace: "no-such-namespace", name: "x" }));
    assert.equal(missing.code, 404);
    const notInNamespace = await apiError(core.createNamespacedSecret({ namespace: "no-such-namespace", body: { metadata: { name: "s" } } }));
    assert.equal(notInNamespace.status.message, 'namespaces "no-such-namespace" not found');
  });

  test("create, get, list with selectors, replace, patches and delete of a Deployment", async () => {
    const ns = await namespace("crud");
    const created = await apps.createNamespacedDeployment({ namespace: ns, body: { ...webDeployment("one", "hi"), spec: { ...webDeployment("one", "hi").spec!, replicas: 0 } } });
    assert.equal(created.metadata?.generation, 1);
    assert.ok(created.metadata?.uid);
    assert.equal(created.spec?.progressDeadlineSeconds, 600, "server-side defaults are applied");
    assert.equal(created.spec?.strategy?.type, "RollingUpdate");
    const rv1 = Number(created.metadata?.resourceVersion);
    for (const name of ["two", "three"]) {
      const body = webDeployment(name, "hi");
      body.spec!.replicas = 0;
      body.metadata!.labels = { app: name, tier: name === "two" ? "serve" : "batch" };
      await apps.createNamespacedDeployment({ namespace: ns, body });
    }

    const got = await apps.readNamespacedDeployment({ namespace: ns, name: "one" });
    assert.equal(got.spec?.template.spec?.containers[0]?.env?.[0]?.value, "hi");
    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      (await apps.listNamespacedDeployment({ namespace: ns, labelSelector, fieldSelector })).items.map((item) => item.metadata!.name!);
    assert.deepEqual(await names(), ["one", "three", "two"]);
    assert.deepEqual(await names("tier=serve"), ["one", "two"]);
    assert.deepEqual(await names("tier!=serve"), ["three"]);
    assert.deepEqual(await names("tier in (batch,other),app"), ["three"]);
    assert.deepEqual(await names("app notin (one),tier"), ["three", "two"]);
    assert.deepEqual(await names("!tier"), []);
    assert.deepEqual(await names(undefined, "metadata.name=two"), ["two"]);
    const list = await apps.listNamespacedDeployment({ namespace: ns });
    assert.ok(Number(list.metadata?.resourceVersion) > rv1, "a list carries the current resourceVersion");
    const badSelector = await apiError(apps.listNamespacedDeployment({ namespace: ns, labelSelector: "tier in (a" }));
    assert.equal(badSelector.code, 400);

    // Replace (PUT): a metadata change keeps the generation, a spec change bumps it.
    got.metadata!.labels = { ...got.metadata!.labels, extra: "yes" };
    const replaced = await apps.replaceNamespacedDeployment({ namespace: ns, name: "one", body: got });
    assert.equal(replaced.metadata?.labels?.extra, "yes");
    assert.equal(replaced.metadata?.generation, 1);
    assert.ok(Number(replaced.metadata?.resourceVersion) > Number(got.metadata?.resourceVersion));
    const stale = await apiError(apps.replaceNamespacedDeployment({ namespace: ns, name: "one", body: got }));
    assert.equal(stale.code, 409);
    assert.equal(stale.status.reason, "Conflict");

    // Strategic merge patch: containers and env merge by name.
    const strategic = await apps.patchNamespacedDeployment(
      { namespace: ns, name: "one", body: { spec: { template: { spec: { containers: [{ name: "web", env: [{ name: "GREETING", value: "strategic" }] }] } } } } },
      strategicPatch,
    );
    assert.deepEqual(
      strategic.spec?.template.spec?.containers[0]?.env?.map((env) => `${env.name}=${env.value}`),
      ["GREETING=strategic", "OTHER=kept"],
    );
    assert.ok(strategic.spec?.template.spec?.containers[0]?.image, "the rest of the container is kept");
    assert.equal(strategic.metadata?.generation, 2);
    // JSON merge patch: a list is replaced whole.
    const merged = await apps.patchNamespacedDeployment(
      { namespace: ns, name: "one", body: { metadata: { labels: { extra: null } }, spec: { template: { spec: { containers: [{ name: "web", image: "registry.example/faceops:2" }] } } } } },
      mergePatch,
    );
    assert.equal(merged.metadata?.labels?.extra, undefined, "null deletes a key");
    assert.equal(merged.spec?.template.spec?.containers.length, 1);
    assert.equal(merged.spec?.template.spec?.containers[0]?.env, undefined, "the container list was replaced");
    assert.equal(merged.metadata?.generation, 3);
    // JSON patch: add/replace/remove.
    const patched = await apps.patchNamespacedDeployment(
      {
        namespace: ns,
        name: "one",
        body: [
          { op: "add", path: "/metadata/labels/added", value: "x" },
          { op: "replace", path: "/spec/template/spec/containers/0/image", value: "registry.example/faceops:3" },
          { op: "remove", path: "/metadata/labels/tier" },
        ],
      },
      jsonPatch,
    );
    assert.deepEqual(patched.metadata?.labels, { app: "one", added: "x" });
    assert.equal(patched.spec?.template.spec?.containers[0]?.image, "registry.example/faceops:3");
    const badJsonPatch = await apiError(apps.patchNamespacedDeployment({ namespace: ns, name: "one", body: [{ op: "replace", path: "/spec/nothing/here", value: 1 }] }, jsonPatch));
    assert.equal(badJsonPatch.code, 422);
    const status = await apps.readNamespacedDeploymentStatus({ namespace: ns, name: "one" });
    assert.equal(status.metadata?.name, "one");

    // Delete: Status Success, then 404.
    await apps.deleteNamespacedDeployment({ namespace: ns, name: "one" });
    const gone = await apiError(apps.readNamespacedDeployment({ namespace: ns, name: "one" }));
    assert.equal(gone.code, 404);
    assert.deepEqual(gone.status, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'deployments.apps "one" not found',
      reason: "NotFound",
      details: { name: "one", group: "apps", kind: "deployments" },
      code: 404,
    });
    assert.deepEqual(await names(), ["three", "two"]);
  });

  test("409 AlreadyExists, 422 Invalid and unknown fields as ApiException with Status bodies", async () => {
    const ns = await namespace("errors");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "dup" }, data: { a: "1" } } });
    const duplicate = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "dup" }, data: { a: "2" } } }));
    assert.equal(duplicate.code, 409);
    assert.equal(duplicate.status.kind, "Status");
    assert.equal(duplicate.status.reason, "AlreadyExists");
    assert.equal(duplicate.status.message, 'configmaps "dup" already exists');
    assert.equal(server.createCount("configmaps", ns, "dup"), 2);

    // The schema: a container needs a name.
    const noName = await apiError(batch.createNamespacedJob({ namespace: ns, body: job("bad", ["node", "-e", ""], {}, { name: undefined as unknown as string }) }));
    assert.equal(noName.code, 422);
    assert.equal(noName.status.reason, "Invalid");
    assert.equal(noName.status.details?.kind, "Job");
    assert.equal(noName.status.details?.group, "batch");
    assert.deepEqual(noName.status.details?.causes?.map((cause) => cause.field), ["spec.template.spec.containers[0].name"]);
    assert.match(noName.status.message, /^Job\.batch "bad" is invalid: spec\.template\.spec\.containers\[0\]\.name: Required value/);
    // The server's own rules: a Job's pods may not restart Always.
    const always = job("always", ["node", "-e", ""]);
    always.spec!.template.spec!.restartPolicy = "Always";
    const restart = await apiError(batch.createNamespacedJob({ namespace: ns, body: always }));
    assert.equal(restart.code, 422);
    assert.match(restart.status.message, /spec\.template\.spec\.restartPolicy: Required value: valid values: "OnFailure", "Never"/);

    // Unknown fields. The typed client itself drops unknown properties when it serializes a create
    // body, so this create is sent with fetch (and the client's own credentials); patch bodies are
    // sent as they are by the client.
    const options = await kc.applyToFetchOptions({});
    const headers = new Headers(options.headers as Record<string, string>);
    headers.set("Content-Type", "application/json");
    const typo = job("typo", ["node", "-e", ""]) as unknown as { spec: Record<string, unknown> };
    typo.spec.backofLimit = 2;
    const strict = await fetch(`${server.url}/apis/batch/v1/namespaces/${ns}/jobs`, { method: "POST", headers, body: JSON.stringify(typo) });
    assert.equal(strict.status, 400);
    const strictStatus = (await strict.json()) as StatusBody;
    assert.equal(strictStatus.reason, "BadRequest");
    assert.equal(strictStatus.message, 'Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field "spec.backofLimit"');
    await batch.createNamespacedJob({ namespace: ns, body: job("suspended", ["node", "-e", ""], { suspend: true }) });
    const unknown = await apiError(
      batch.patchNamespacedJob({ namespace: ns, name: "suspended", body: { spec: { template: { spec: { containers: [{ name: "main", imagePullPolicyy: "Always" }] } } } } }, strategicPatch),
    );
    assert.equal(unknown.code, 400);
    assert.equal(unknown.status.message, 'strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"');
    const wrongType = await apiError(batch.patchNamespacedJob({ namespace: ns, name: "suspended", body: { spec: { backoffLimit: "three" } } }, mergePatch));
    assert.equal(wrongType.code, 422);
    const immutable = await apiError(batch.patchNamespacedJob({ namespace: ns, name: "suspended", body: { spec: { template: { spec: { restartPolicy: "OnFailure" } } } } }, mergePatch));
    assert.equal(immutable.code, 422);
    assert.match(immutable.status.message, /spec\.template: Invalid value: .*field is immutable/);
    const defaultPatch = await apiError(batch.patchNamespacedJob({ namespace: ns, name: "suspended", body: { spec: { suspend: false } } }));
    assert.equal(defaultPatch.code, 400, "without a Content-Type option the client sends json-patch, which must be an array");
  });

  test("Watch receives ADDED, MODIFIED and DELETED, with selectors and timeoutSeconds", async () => {
    const ns = await namespace("watching");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "before", labels: { app: "w" } } } });
    const start = (await core.listNamespacedConfigMap({ namespace: ns })).metadata!.resourceVersion!;
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    let ended = false;
    const controller = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: start, labelSelector: "app=w" },
      (type: string, object: k8s.V1ConfigMap) => seen.push(`${type}:${object.metadata?.name}:${object.data?.v ?? ""}`),
      () => (ended = true),
    );
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "w1", labels: { app: "w" } }, data: { v: "1" } } });
    await core.patchNamespacedConfigMap({ namespace: ns, name: "w1", body: { data: { v: "2" } } }, mergePatch);
    await core.patchNamespacedConfigMap({ namespace: ns, name: "w1", body: { metadata: { labels: { app: "other" } } } }, mergePatch);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "ignored", labels: { app: "other" } } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "w2", labels: { app: "w" } } } });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "w2" });
    await until("five events", () => (seen.length >= 5 ? true : undefined));
    assert.deepEqual(seen, ["ADDED:w1:1", "MODIFIED:w1:2", "DELETED:w1:2", "ADDED:w2:", "DELETED:w2:"]);
    controller.abort();
    await until("the watch to end", () => (ended ? true : undefined));

    // No resourceVersion: synthetic ADDED events for what exists, then the server ends it after timeoutSeconds.
    const initial: string[] = [];
    const done = new Promise<unknown>((resolve) => {
      void watch.watch(`/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: 1 }, (type: string, object: k8s.V1ConfigMap) => initial.push(`${type}:${object.metadata?.name}`), resolve);
    });
    assert.equal(await done, null);
    assert.deepEqual(initial.sort(), ["ADDED:before", "ADDED:ignored", "ADDED:w1"]);
  });

  test("a watch from a compacted resourceVersion gets 410 Expired and an informer re-lists", async () => {
    const ns = await namespace("compaction");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "first" } } });
    const old = (await core.listNamespacedConfigMap({ namespace: ns })).metadata!.resourceVersion!;
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "later" } } });
    server.compactHistory();
    const events: { type: string; object: StatusBody }[] = [];
    const done = new Promise<unknown>((resolve) => {
      void new k8s.Watch(kc).watch(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: old }, (type: string, object: StatusBody) => events.push({ type, object }), resolve);
    });
    assert.equal(await done, null, "the stream just ends after the ERROR event");
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, "ERROR");
    assert.equal(events[0]?.object.kind, "Status");
    assert.equal(events[0]?.object.code, 410);
    assert.equal(events[0]?.object.reason, "Expired");
    assert.match(events[0]?.object.message ?? "", /^too old resource version: \d+ \(\d+\)$/);

    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const informer = k8s.makeInformer(kc, path, () => core.listNamespacedConfigMap({ namespace: ns }));
    const added: string[] = [];
    const deleted: string[] = [];
    informer.on("add", (object) => added.push(object.metadata!.name!));
    informer.on("delete", (object) => deleted.push(object.metadata!.name!));
    informer.on("error", () => undefined);
    await informer.start();
    await until("the informer's first list", () => (added.length === 2 ? true : undefined));
    await informer.stop();
    // While it is not watching: changes, then the history it would resume from is compacted away.
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "first" });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "while-away" } } });
    server.compactHistory();
    const lists = (): number => server.requests.filter((request) => request.verb === "list" && request.path === path).length;
    const listsBefore = lists();
    await informer.start();
    await until("the informer to catch up", () => (added.includes("while-away") && deleted.includes("first") ? true : undefined));
    assert.equal(lists(), listsBefore + 1, "it re-listed after the 410");
    assert.deepEqual(informer.list(ns).map((object) => object.metadata!.name).sort(), ["later", "while-away"]);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after" } } });
    await until("the informer to watch again", () => (added.includes("after") ? true : undefined));
    await informer.stop();
  });

  test("a Job whose process exits 0 completes", async () => {
    const ns = await namespace("job-ok");
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "creds" }, stringData: { token: "s3cret" } } });
    const body = job("ok", ["node", "-e", "console.log([process.env.TOKEN, process.env.POD, process.env.PLAIN, process.env.MISSING ?? 'none'].join(' '))"], {}, {
      env: [
        { name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } },
        { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "PLAIN", value: "plain" },
        { name: "MISSING", valueFrom: { secretKeyRef: { name: "absent", key: "k", optional: true } } },
      ],
    });
    const created = await batch.createNamespacedJob({ namespace: ns, body });
    assert.equal(created.spec?.backoffLimit, 6);
    const uid = created.metadata!.uid!;
    const done = await until("the Job to complete", async () => {
      const read = await batch.readNamespacedJobStatus({ namespace: ns, name: "ok" });
      return condition(read.status?.conditions, "Complete") ? read : undefined;
    });
    assert.equal(done.status?.succeeded, 1);
    assert.equal(done.status?.active, undefined);
    assert.equal(done.status?.failed, undefined);
    assert.equal(done.status?.ready, 0);
    assert.ok(done.status?.startTime && done.status.completionTime);
    assert.deepEqual(
      done.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [
        ["SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"],
        ["Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"],
      ],
    );
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "job-name=ok" });
    assert.equal(pods.items.length, 1);
    const pod = pods.items[0]!;
    assert.match(pod.metadata!.name!, /^ok-[a-z0-9]{5}$/);
    assert.equal(pod.metadata?.labels?.["batch.kubernetes.io/job-name"], "ok");
    assert.equal(pod.metadata?.labels?.["controller-uid"], uid);
    assert.equal(pod.metadata?.labels?.["batch.kubernetes.io/controller-uid"], uid);
    assert.deepEqual(pod.metadata?.ownerReferences?.map((owner) => [owner.kind, owner.name, owner.uid, owner.controller]), [["Job", "ok", uid, true]]);
    assert.equal(pod.status?.phase, "Succeeded");
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason, "Completed");
    assert.match(pod.spec?.nodeName ?? "", /^node-\d$/);
    const log = await core.readNamespacedPodLog({ namespace: ns, name: pod.metadata.name! });
    assert.equal(log, `s3cret ${pod.metadata.name} plain none\n`);
    const byPhase = await core.listNamespacedPod({ namespace: ns, fieldSelector: "status.phase=Succeeded" });
    assert.equal(byPhase.items.length, 1);
    // Deleting with Background propagation deletes the pods too.
    await batch.deleteNamespacedJob({ namespace: ns, name: "ok", propagationPolicy: "Background" });
    await until("the pod to be garbage-collected", async () => ((await core.listNamespacedPod({ namespace: ns })).items.length === 0 ? true : undefined));
  });

  test("ServiceAccounts: every namespace has default, a pod must name one that exists, and its token is mounted unless automount is off", async () => {
    // A server of its own: this test creates pods itself, which rbacUsage() below says the others never do.
    const own = await FakeKubeApiServer.start({ localCommand: () => null });
    try {
      await serviceAccountAdmission(own.kubeConfig("accounts").makeApiClient(k8s.CoreV1Api), "accounts");
    } finally {
      await own.stop();
    }
  });

  async function serviceAccountAdmission(core: k8s.CoreV1Api, ns: string): Promise<void> {
    await core.createNamespace({ body: { metadata: { name: `${ns}-new` } } });
    assert.equal((await core.readNamespacedServiceAccount({ namespace: `${ns}-new`, name: "default" })).metadata?.name, "default", "a namespace created through the API gets one too");
    const defaults = await core.readNamespacedServiceAccount({ namespace: ns, name: "default" });
    assert.equal(defaults.metadata?.name, "default", "the serviceaccount controller's default");
    const pod = (name: string, spec: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
      metadata: { name },
      spec: { restartPolicy: "Never", containers: [{ name: "main", image: "registry.example/faceops:1", command: ["node", "-e", ""] }], ...spec },
    });
    const tokenMounts = (created: k8s.V1Pod) => (created.spec?.containers[0]?.volumeMounts ?? []).filter((mount) => mount.mountPath === "/var/run/secrets/kubernetes.io/serviceaccount");

    // Unset: the default ServiceAccount, with its token.
    const plain = await core.createNamespacedPod({ namespace: ns, body: pod("plain") });
    assert.equal(plain.spec?.serviceAccountName, "default");
    assert.equal(tokenMounts(plain).length, 1);
    assert.equal(tokenMounts(plain)[0]?.readOnly, true);
    const volume = plain.spec?.volumes?.find((entry) => entry.name === tokenMounts(plain)[0]?.name);
    assert.match(volume?.name ?? "", /^kube-api-access-[a-z0-9]{5}$/);
    assert.deepEqual(volume?.projected?.sources?.map((source) => Object.keys(source)[0]), ["serviceAccountToken", "configMap", "downwardAPI"]);

    // A missing one: refused, as the admission plugin refuses it.
    const missing = await apiError(core.createNamespacedPod({ namespace: ns, body: pod("orphan", { serviceAccountName: "trainer" }) }));
    assert.equal(missing.code, 403);
    assert.equal(missing.status.reason, "Forbidden");
    assert.equal(missing.status.message, `pods "orphan" is forbidden: error looking up service account ${ns}/trainer: serviceaccount "trainer" not found`);

    // Automount off on the ServiceAccount, or on the pod (which wins either way).
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "trainer" }, automountServiceAccountToken: false } });
    assert.equal(tokenMounts(await core.createNamespacedPod({ namespace: ns, body: pod("quiet", { serviceAccountName: "trainer" }) })).length, 0);
    assert.equal(tokenMounts(await core.createNamespacedPod({ namespace: ns, body: pod("loud", { serviceAccountName: "trainer", automountServiceAccountToken: true }) })).length, 1);
    assert.equal(tokenMounts(await core.createNamespacedPod({ namespace: ns, body: pod("off", { automountServiceAccountToken: false }) })).length, 0);
  }

  test("Pod Security Admission: a namespace labelled enforce refuses pods breaking that level", async () => {
    const own = await FakeKubeApiServer.start({ localCommand: () => null });
    try {
      const core = own.kubeConfig().makeApiClient(k8s.CoreV1Api);
      const level = (name: string, value?: string) => core.createNamespace({ body: { metadata: { name, labels: value ? { "pod-security.kubernetes.io/enforce": value, "pod-security.kubernetes.io/enforce-version": "v1.34" } : {} } } });
      await level("strict", "restricted");
      await level("loose", "baseline");
      await level("open");
      const pod = (name: string, securityContext?: k8s.V1SecurityContext): k8s.V1Pod => ({ metadata: { name }, spec: { containers: [{ name: "main", image: "registry.example/faceops:1", securityContext }] } });
      const hardened: k8s.V1Pod = {
        metadata: { name: "hardened" },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
          containers: [{ name: "main", image: "registry.example/faceops:1", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }],
        },
      };
      const refused = await apiError(core.createNamespacedPod({ namespace: "strict", body: pod("plain") }));
      assert.equal(refused.code, 403);
      assert.equal(refused.status.reason, "Forbidden");
      assert.match(refused.status.message, /^pods "plain" is forbidden: violates PodSecurity "restricted:v1\.34": /);
      for (const control of ["Privilege Escalation", "Running as Non-root", "Seccomp (restricted)", "Capabilities (restricted)"]) assert.ok(refused.status.message.includes(`${control} (`), control);
      assert.equal((await core.createNamespacedPod({ namespace: "strict", body: hardened })).metadata?.name, "hardened");
      assert.equal((await core.createNamespacedPod({ namespace: "loose", body: pod("plain") })).metadata?.name, "plain", "baseline allows the default pod");
      const privileged = await apiError(core.createNamespacedPod({ namespace: "loose", body: pod("root", { privileged: true }) }));
      assert.match(privileged.status.message, /violates PodSecurity "baseline:v1\.34": Privileged Containers \(spec\.containers\["main"\]\.securityContext\.privileged=true\)$/);
      assert.equal((await core.createNamespacedPod({ namespace: "open", body: pod("root", { privileged: true }) })).metadata?.name, "root", "an unlabelled namespace enforces nothing");
    } finally {
      await own.stop();
    }
  });

  test("a Job naming a missing ServiceAccount records FailedCreate, and starts once the ServiceAccount exists", async () => {
    const ns = await namespace("job-account");
    const body = job("needs-account", ["node", "-e", "process.exit(0)"]);
    body.spec!.template.spec!.serviceAccountName = "trainer";
    body.spec!.template.spec!.automountServiceAccountToken = false;
    await batch.createNamespacedJob({ namespace: ns, body });
    const failed = await until("a FailedCreate event", async () =>
      (await core.listNamespacedEvent({ namespace: ns, fieldSelector: "involvedObject.name=needs-account,reason=FailedCreate" })).items[0],
    );
    assert.equal(failed.type, "Warning");
    assert.equal(failed.message, `Error creating: pods "needs-account-" is forbidden: error looking up service account ${ns}/trainer: serviceaccount "trainer" not found`);
    assert.equal((await core.listNamespacedPod({ namespace: ns, labelSelector: "job-name=needs-account" })).items.length, 0);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "trainer" }, automountServiceAccountToken: false } });
    await until("the Job to complete", async () => (condition((await batch.readNamespacedJobStatus({ namespace: ns, name: "needs-account" })).status?.conditions, "Complete") ? true : undefined));
  });

  test("a Job whose pods exit 3 fails with BackoffLimitExceeded after backoffLimit + 1 pods", async () => {
    const ns = await namespace("job-fail");
    await batch.createNamespacedJob({ namespace: ns, body: job("three", ["node", "-e", "process.exit(3)"], { backoffLimit: 1 }) });
    const failed = await until("the Job to fail", async () => {
      const read = await batch.readNamespacedJob({ namespace: ns, name: "three" });
      return condition(read.status?.conditions, "Failed") ? read : undefined;
    });
    assert.deepEqual(
      failed.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [
        ["FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"],
        ["Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"],
      ],
    );
    assert.equal(failed.status?.failed, 2);
    assert.equal(failed.status?.succeeded, undefined);
    assert.equal(failed.status?.active, undefined);
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "job-name=three" });
    assert.equal(pods.items.length, 2);
    for (const pod of pods.items) {
      assert.equal(pod.status?.phase, "Failed");
      assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
      assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason, "Error");
    }
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: "involvedObject.name=three" });
    assert.ok(events.items.some((event) => event.reason === "BackoffLimitExceeded" && event.type === "Warning"));
  });

  test("a GPU Job on a cluster without GPUs stays Pending and Unschedulable", async () => {
    const ns = await namespace("job-gpu");
    await batch.createNamespacedJob({ namespace: ns, body: job("gpu", ["node", "-e", "process.exit(0)"], {}, { resources: { limits: { "nvidia.com/gpu": "1" } } }) });
    const expected = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    const pod = await until("the pod to be found unschedulable", async () => {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "job-name=gpu" });
      const found = pods.items[0];
      return condition(found?.status?.conditions, "PodScheduled")?.reason === "Unschedulable" ? found : undefined;
    });
    assert.equal(pod.status?.phase, "Pending");
    const scheduled = condition(pod.status?.conditions, "PodScheduled");
    assert.deepEqual([scheduled?.status, scheduled?.reason, scheduled?.message], ["False", "Unschedulable", expected]);
    assert.equal(pod.spec?.nodeName, undefined);
    assert.equal(pod.status?.containerStatuses, undefined, "nothing was started");
    const status = await until("the Job to count it active", async () => {
      const read = await batch.readNamespacedJobStatus({ namespace: ns, name: "gpu" });
      return read.status?.active === 1 ? read.status : undefined;
    });
    assert.equal(status.ready, 0);
    assert.equal(status.conditions, undefined);
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${pod.metadata!.name}` });
    assert.ok(events.items.some((event) => event.reason === "FailedScheduling" && event.message === expected));

    const selective = job("selective", ["node", "-e", "process.exit(0)"]);
    selective.spec!.template.spec!.nodeSelector = { "cloud.google.com/gke-accelerator": "nvidia-l4" };
    await batch.createNamespacedJob({ namespace: ns, body: selective });
    const unmatched = await until("the nodeSelector pod to be unschedulable", async () => {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "job-name=selective" });
      return condition(pods.items[0]?.status?.conditions, "PodScheduled")?.message;
    });
    assert.equal(unmatched, "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
  });

  test("activeDeadlineSeconds kills a long process and fails the Job with DeadlineExceeded", async () => {
    const ns = await namespace("job-deadline");
    const phases: string[] = [];
    const watch = await new k8s.Watch(kc).watch(`/api/v1/namespaces/${ns}/pods`, {}, (type: string, pod: k8s.V1Pod) => phases.push(`${type}:${pod.status?.phase}`), () => undefined);
    await batch.createNamespacedJob({ namespace: ns, body: job("slow", ["sleep", "60"], { activeDeadlineSeconds: 1 }) });
    const failed = await until("the deadline", async () => {
      const read = await batch.readNamespacedJobStatus({ namespace: ns, name: "slow" });
      return condition(read.status?.conditions, "Failed") ? read : undefined;
    });
    assert.deepEqual(
      [condition(failed.status?.conditions, "Failed")?.reason, condition(failed.status?.conditions, "Failed")?.message],
      ["DeadlineExceeded", "Job was active longer than specified deadline"],
    );
    assert.equal(failed.status?.failed, 1);
    await until("the killed pod to be gone", async () => ((await core.listNamespacedPod({ namespace: ns })).items.length === 0 ? true : undefined));
    watch.abort();
    assert.equal(phases[0], "ADDED:Pending");
    assert.ok(phases.includes("MODIFIED:Running"), phases.join(" "));
    assert.equal(phases.at(-1), "DELETED:Running", "terminated by deletion, not by exiting");
  });

  test("a Deployment rolls to a new env value, and a never-ready template exceeds its progress deadline", async () => {
    const ns = await namespace("deploy");
    const watched: { type: string; generation?: number; observed?: number; updated?: number; reason?: string }[] = [];
    const watch = await new k8s.Watch(kc).watch(
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      {},
      (type: string, object: k8s.V1Deployment) =>
        watched.push({ type, generation: object.metadata?.generation, observed: object.status?.observedGeneration, updated: object.status?.updatedReplicas, reason: condition(object.status?.conditions, "Progressing")?.reason }),
      () => undefined,
    );
    await apps.createNamespacedDeployment({ namespace: ns, body: webDeployment("web", "v1") });
    const complete = (generation: number) => async (): Promise<k8s.V1Deployment | undefined> => {
      const read = await apps.readNamespacedDeploymentStatus({ namespace: ns, name: "web" });
      const status = read.status;
      return status?.observedGeneration === generation && condition(status.conditions, "Progressing")?.reason === "NewReplicaSetAvailable" && status.replicas === 1 ? read : undefined;
    };
    const first = await until("the first rollout", complete(1));
    assert.equal(first.status?.readyReplicas, 1);
    assert.equal(first.status?.availableReplicas, 1);
    assert.equal(first.status?.updatedReplicas, 1);
    assert.equal(first.status?.unavailableReplicas, undefined);
    assert.deepEqual([condition(first.status?.conditions, "Available")?.status, condition(first.status?.conditions, "Available")?.reason], ["True", "MinimumReplicasAvailable"]);
    assert.equal(first.metadata?.annotations?.["deployment.kubernetes.io/revision"], "1");
    const v1 = server.deploymentEndpoint(ns, "web");
    assert.ok(v1);
    assert.equal(await (await fetch(v1)).text(), "v1");
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
    assert.equal(pods.items.length, 1);
    assert.match(pods.items[0]!.metadata!.name!, /^web-[a-z0-9]+-[a-z0-9]{5}$/);
    assert.ok(pods.items[0]!.metadata?.labels?.["pod-template-hash"]);

    await apps.patchNamespacedDeployment(
      { namespace: ns, name: "web", body: { spec: { template: { spec: { containers: [{ name: "web", env: [{ name: "GREETING", value: "v2" }] }] } } } } },
      strategicPatch,
    );
    const second = await until("the second rollout", complete(2));
    assert.equal(second.metadata?.annotations?.["deployment.kubernetes.io/revision"], "2");
    const v2 = server.deploymentEndpoint(ns, "web");
    assert.ok(v2 && v2 !== v1);
    assert.equal(await (await fetch(v2)).text(), "v2");
    await until("the old process to be stopped", () => fetch(v1).then(() => undefined, () => true));
    assert.ok(watched.some((event) => event.type === "MODIFIED" && event.generation === 2 && event.observed === 2 && event.reason === "NewReplicaSetAvailable"));
    assert.ok(watched.some((event) => event.type === "MODIFIED" && event.observed === 2 && event.reason !== "NewReplicaSetAvailable"), "the rollout in progress was visible");

    // A template whose process never becomes ready: the old pod keeps serving.
    await apps.patchNamespacedDeployment(
      { namespace: ns, name: "web", body: { spec: { progressDeadlineSeconds: 2, template: { spec: { containers: [{ name: "web", command: ["node", "-e", "setInterval(() => {}, 1000)"] }] } } } } },
      strategicPatch,
    );
    const stuck = await until("the progress deadline", async () => {
      const read = await apps.readNamespacedDeployment({ namespace: ns, name: "web" });
      return condition(read.status?.conditions, "Progressing")?.reason === "ProgressDeadlineExceeded" ? read : undefined;
    });
    const progressing = condition(stuck.status?.conditions, "Progressing");
    assert.equal(progressing?.status, "False");
    assert.match(progressing?.message ?? "", /^ReplicaSet "web-[a-z0-9]+" has timed out progressing\.$/);
    assert.equal(condition(stuck.status?.conditions, "Available")?.status, "True");
    assert.equal(stuck.status?.observedGeneration, 3);
    assert.deepEqual([stuck.status?.replicas, stuck.status?.updatedReplicas, stuck.status?.readyReplicas, stuck.status?.availableReplicas, stuck.status?.unavailableReplicas], [2, 1, 1, 1, 1]);
    assert.equal(server.deploymentEndpoint(ns, "web"), v2);
    assert.equal(await (await fetch(v2)).text(), "v2");
    assert.equal((server.getObject("deployments", ns, "web")?.metadata as { generation?: number }).generation, 3);
    watch.abort();

    // Deleting the Deployment stops its processes.
    await apps.deleteNamespacedDeployment({ namespace: ns, name: "web" });
    await until("the serving process to stop", () => fetch(v2).then(() => undefined, () => true));
    await until("the pods to be gone", async () => ((await core.listNamespacedPod({ namespace: ns })).items.length === 0 ? true : undefined));
  });

  test("rbacUsage() lists what the client used", () => {
    const used = server.rbacUsage();
    for (const expected of [
      "/namespaces:create",
      "/namespaces:get",
      "/configmaps:create",
      "/configmaps:list",
      "/configmaps:watch",
      "/configmaps:patch",
      "/configmaps:delete",
      "/secrets:create",
      "/pods:list",
      "/pods/log:get",
      "/events:list",
      "batch/jobs:create",
      "batch/jobs:get",
      "batch/jobs:patch",
      "batch/jobs:delete",
      "batch/jobs/status:get",
      "apps/deployments:create",
      "apps/deployments:get",
      "apps/deployments:list",
      "apps/deployments:update",
      "apps/deployments:patch",
      "apps/deployments:delete",
      "apps/deployments:watch",
      "apps/deployments/status:get",
    ])
      assert.ok(used.has(expected), `${expected} in ${[...used].sort().join(" ")}`);
    assert.ok(!used.has("/pods:create"), "pods are made by the simulated controllers, not by the client");
    const record = server.requests.find((request) => request.verb === "create" && request.resource === "jobs");
    assert.deepEqual(Object.keys(record ?? {}).sort(), ["group", "method", "name", "namespace", "path", "resource", "status", "subresource", "verb", "version"]);
  });
});
