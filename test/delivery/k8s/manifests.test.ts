import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ServiceMonitor, type IServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import type { IPrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IService } from "kubernetes-models/v1/Service";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import express from "express";
import { Registry } from "prom-client";
import { loadConfig } from "../../../src/config/load.js";
import { createControllerApp } from "../../../src/controller/app.js";
import { silentLogger } from "../../../src/log.js";
import { listen } from "../../../src/http/server.js";
import { startService } from "../../helpers/http.js";
import { kustomizeBuild, parseYamlObjects, type KubeObject } from "../../helpers/kubectl.js";
import { controllerConfig, jobTemplate, podTemplates, trainingJob } from "../../helpers/kube-manifests.js";
import { connectionAllowed, type Connection, type PodEndpoint } from "../../helpers/kube-network-policy.js";
import { validateKubernetesObject } from "../../helpers/kube-schema.js";
import { exposedSeries, grafanaExprToPromQL, referencedMetrics } from "../../helpers/promql.js";
import { promtoolCheckRules } from "../../helpers/promtool.js";
import { promtool, requires } from "../../helpers/tools.js";

/**
 * The manifests in k8s/, rendered by a real `kubectl kustomize` (test/helpers/kubectl.ts) and checked
 * against the official schemas (test/helpers/kube-schema.ts), the configuration loader, the metrics
 * the code declares, promtool, and the rules faceops' deployment relies on.
 */

const root = fileURLToPath(new URL("../../../", import.meta.url));
const namespace = "faceops";
const image = "ghcr.io/faceops/faceops:0.1.0";
const trainingEnv = ["FACEOPS_KUBERNETES_GPUS", "FACEOPS_KUBERNETES_TOLERATIONS", "FACEOPS_KUBERNETES_TRAINER_IMAGE"];

type Render = "base" | "gpu" | "cpu" | "monitoring";
const renderDirs: Record<Render, string> = { base: "k8s/base", gpu: "k8s/overlays/gpu", cpu: "k8s/overlays/cpu", monitoring: "k8s/monitoring" };
const renders = {} as Record<Render, KubeObject[]>;
let work: string;

function kustomize(dir: string): Promise<KubeObject[]> {
  return kustomizeBuild(join(root, dir));
}

function id(object: KubeObject): string {
  return `${object.kind} ${object.metadata.name}`;
}

function find<T>(objects: readonly KubeObject[], kind: string, name: string | RegExp): T {
  const matches = objects.filter((object) => object.kind === kind && (typeof name === "string" ? object.metadata.name === name : name.test(object.metadata.name)));
  assert.equal(matches.length, 1, `exactly one ${kind} ${String(name)} in ${objects.map(id).join(", ")}`);
  return matches[0] as T;
}

function containersOf(spec: IPodSpec): IContainer[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

function container(deployment: IDeployment, name: string): IContainer {
  const found = deployment.spec?.template.spec?.containers.find((entry) => entry.name === name);
  assert.ok(found, `${deployment.metadata?.name ?? ""} has a container ${name}`);
  return found;
}

function envVar(entry: IContainer, name: string): IEnvVar | undefined {
  return entry.env?.find((variable) => variable.name === name);
}

/** A Kubernetes quantity ("512Mi", "1G", "250m") as a number of units (bytes, cores). */
function quantityValue(text: string): number {
  const match = /^([0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/.exec(text);
  assert.ok(match, `"${text}" is a quantity`);
  const factors: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };
  return Number(match[1]) * (match[2] ? (factors[match[2]] ?? Number.NaN) : 1);
}

/** `labels` holds every pair of `selector`. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
}

/** Renders every kustomization once, for the suites that read them. */
let rendering: Promise<void> | null = null;
function renderAll(): Promise<void> {
  rendering ??= (async () => {
    const rendered = await Promise.all(Object.values(renderDirs).map((dir) => kustomize(dir)));
    (Object.keys(renderDirs) as Render[]).forEach((name, index) => (renders[name] = rendered[index] as KubeObject[]));
  })();
  return rendering;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "faceops-k8s-"));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("validateKubernetesObject", () => {
  const deployment = () => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "demo", namespace, labels: { "app.kubernetes.io/name": "demo" }, annotations: { "example.com/note": "maps are not fields" } },
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/name": "demo" } },
      template: {
        metadata: { labels: { "app.kubernetes.io/name": "demo" } },
        spec: {
          containers: [{ name: "demo", image, resources: { limits: { cpu: "1", memory: "1Gi", "nvidia.com/gpu": 1 } }, securityContext: { runAsNonRoot: true } }],
          volumes: [{ name: "tmp", emptyDir: {} }],
        },
      },
    },
  });

  test("rejects a field its schema does not know, which kubernetes-models alone accepts", () => {
    const misspelled = deployment();
    const pod = misspelled.spec.template.spec;
    Object.assign(pod.containers[0] as object, { securityContxt: { runAsNonRoot: true } });
    assert.doesNotThrow(() => new Deployment(misspelled).validate(), "kubernetes-models' validator lets unknown fields through");
    assert.throws(() => validateKubernetesObject(misspelled), {
      message: "apps/v1 Deployment faceops/demo has field(s) its schema does not know: /spec/template/spec/containers/0/securityContxt",
    });
    // Labels, annotations, selectors and resource lists are maps: their keys are not fields.
    assert.doesNotThrow(() => validateKubernetesObject(deployment()));
    assert.throws(() => validateKubernetesObject({ ...deployment(), spec: { ...deployment().spec, replica: 2 } }), /: \/spec\/replica$/);
    assert.throws(() => validateKubernetesObject({ ...deployment(), status2: {} }), /: \/status2$/);

    const monitor = { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "demo" }, spec: { selector: { matchLabels: { a: "b" } }, endpoints: [{ port: "http", pth: "/metrics" }] } };
    assert.doesNotThrow(() => new ServiceMonitor(monitor).validate());
    assert.throws(() => validateKubernetesObject(monitor), /ServiceMonitor demo has field\(s\) its schema does not know: \/spec\/endpoints\/0\/pth$/);
  });

  test("reports a schema violation with its path, and a kind it has no schema for", () => {
    assert.throws(() => validateKubernetesObject({ ...deployment(), spec: { ...deployment().spec, replicas: "two" } }), /apps\/v1 Deployment faceops\/demo is invalid: .*data\/spec\/replicas must be integer/);
    const noName = deployment();
    (noName.spec.template.spec.containers[0] as { name?: string }).name = undefined;
    assert.throws(() => validateKubernetesObject(noName), /data\/spec\/template\/spec\/containers\/0 must have required property '?name'?/);
    assert.throws(() => validateKubernetesObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }), /example.com\/v1 Widget w: no schema for example.com\/v1\/Widget/);
    assert.throws(() => validateKubernetesObject("Deployment"), /not a Kubernetes object/);
  });
});

describe("k8s manifests", () => {
  before(() => renderAll());

  test("every rendered object validates against its schema, with no unknown field", () => {
    for (const [name, objects] of Object.entries(renders)) {
      assert.ok(objects.length > 0, `${name} renders objects`);
      for (const object of objects) validateKubernetesObject(object);
    }
  });

  test("an overlay renders the whole system in the faceops namespace, labelled, with no Secret", () => {
    for (const render of ["gpu", "cpu"] as const) {
      const objects = renders[render];
      assert.deepEqual(objects.map(id).sort(), [
        "ConfigMap faceops-config-" + find<IConfigMap>(objects, "ConfigMap", /^faceops-config-[a-z0-9]+$/).metadata?.name?.slice("faceops-config-".length),
        "Deployment faceops-controller",
        "Deployment faceops-inference",
        "Namespace faceops",
        "NetworkPolicy faceops-controller",
        "NetworkPolicy faceops-default-deny",
        "NetworkPolicy faceops-inference",
        "NetworkPolicy faceops-trainer",
        "PersistentVolumeClaim faceops-store",
        "PodDisruptionBudget faceops-inference",
        "Role faceops-controller",
        "RoleBinding faceops-controller",
        "Service faceops-controller",
        "Service faceops-inference",
        "ServiceAccount faceops-controller",
        "ServiceAccount faceops-trainer",
        "ServiceAccount faceops-workload",
      ]);
    }
    for (const [render, objects] of Object.entries(renders)) {
      for (const object of objects) {
        const { labels = {} } = object.metadata;
        assert.equal(labels["app.kubernetes.io/name"], "faceops", `${render}: ${id(object)} has app.kubernetes.io/name`);
        assert.equal(labels["app.kubernetes.io/part-of"], "faceops", `${render}: ${id(object)} has app.kubernetes.io/part-of`);
        if (object.kind === "Namespace") assert.equal(object.metadata.name, namespace);
        else assert.equal(object.metadata.namespace, namespace, `${render}: ${id(object)} is in the faceops namespace`);
        if (["Deployment", "Service", "PodDisruptionBudget", "Role", "RoleBinding", "ServiceAccount"].includes(object.kind)) {
          assert.match(labels["app.kubernetes.io/component"] ?? "", /^(controller|inference|trainer)$/, `${render}: ${id(object)} has a component label`);
        }
      }
      for (const template of podTemplates(objects)) {
        assert.equal(template.labels["app.kubernetes.io/name"], "faceops", `${template.owner}'s pods are labelled`);
        assert.match(template.labels["app.kubernetes.io/component"] ?? "", /^(controller|inference)$/, `${template.owner}'s pods have a component`);
      }
    }
  });

  test("the gpu and cpu overlays differ from the base only in the controller's training env", () => {
    const without = (objects: readonly KubeObject[]) =>
      objects.map((object) => {
        if (id(object) !== "Deployment faceops-controller") return object;
        const copy = structuredClone(object) as unknown as IDeployment;
        for (const entry of copy.spec?.template.spec?.containers ?? []) entry.env = entry.env?.filter((variable) => !trainingEnv.includes(variable.name));
        return copy;
      });
    assert.equal(find<IDeployment>(renders.base, "Deployment", "faceops-controller").spec?.template.spec?.containers[0]?.env?.some((variable) => trainingEnv.includes(variable.name)), false, "the base leaves the training hardware to the overlays");
    assert.deepEqual(without(renders.gpu), renders.base, "gpu = base + the training env");
    assert.deepEqual(without(renders.cpu), renders.base, "cpu = base + the training env");

    const expected = {
      gpu: { FACEOPS_KUBERNETES_GPUS: "1", FACEOPS_KUBERNETES_TOLERATIONS: '[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}]', FACEOPS_KUBERNETES_TRAINER_IMAGE: "ghcr.io/faceops/faceops-trainer:0.1.0" },
      cpu: { FACEOPS_KUBERNETES_GPUS: "0", FACEOPS_KUBERNETES_TOLERATIONS: "[]", FACEOPS_KUBERNETES_TRAINER_IMAGE: image },
    };
    for (const render of ["gpu", "cpu"] as const) {
      const controller = container(find<IDeployment>(renders[render], "Deployment", "faceops-controller"), "controller");
      const env = Object.fromEntries(trainingEnv.map((name) => [name, envVar(controller, name)]));
      assert.deepEqual(env, Object.fromEntries(Object.entries(expected[render]).map(([name, value]) => [name, { name, value }])), `${render}: the training env`);
    }
  });

  test("faceops.yaml loads through the config loader without warnings, with each overlay's env, and agrees with the manifests", async () => {
    const file = join(root, "k8s/base/faceops.yaml");
    const loaded = await loadConfig({ file });
    assert.deepEqual(loaded.warnings, []);
    const { config } = loaded;

    const configMap = find<IConfigMap>(renders.gpu, "ConfigMap", /^faceops-config-/);
    assert.deepEqual(Object.keys(configMap.data ?? {}), ["faceops.yaml"]);
    assert.equal(configMap.data?.["faceops.yaml"], await readFile(file, "utf8"), "the generated ConfigMap holds the file");
    const rendered = join(work, "rendered-faceops.yaml");
    await writeFile(rendered, configMap.data?.["faceops.yaml"] ?? "");
    assert.deepEqual((await loadConfig({ file: rendered })).config, config);

    assert.equal(config.store, config.kubernetes.storeMountPath, "store points at the claim's mount");
    assert.ok(config.cache.startsWith(`${config.store}/`), "weights are cached on the store, shared by Jobs and inference pods");
    assert.equal(config.serve.host, "0.0.0.0");
    assert.equal(config.kubernetes.storeClaim, find<KubeObject>(renders.gpu, "PersistentVolumeClaim", "faceops-store").metadata.name);
    assert.equal(config.kubernetes.deployment, find<KubeObject>(renders.gpu, "Deployment", "faceops-inference").metadata.name);
    assert.equal(config.kubernetes.gitSecret, "faceops-git");
    assert.match(config.source.repo, /^https:\/\//);

    const expected = { gpu: { gpus: 1, tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }], trainerImage: "ghcr.io/faceops/faceops-trainer:0.1.0" }, cpu: { gpus: 0, tolerations: [], trainerImage: image } };
    for (const render of ["gpu", "cpu"] as const) {
      for (const template of podTemplates(renders[render])) {
        for (const entry of containersOf(template.spec)) {
          // Every FACEOPS_ variable a pod gets must be a setting or one the CLI reads (no warning).
          const env = podEnvironment(entry.env);
          const withEnv = await loadConfig({ file: env.FACEOPS_CONFIG === "/etc/faceops/faceops.yaml" ? file : "(missing FACEOPS_CONFIG)", env });
          assert.deepEqual(withEnv.warnings, [], `${render}: ${template.owner} ${entry.name}`);
          assert.equal(withEnv.config.serve.port, entry.ports?.find((port) => port.name === "http")?.containerPort, "serve.port is the http port");
          const store = entry.volumeMounts?.find((mount) => mount.name === "store");
          assert.equal(store?.mountPath, config.kubernetes.storeMountPath, `${template.owner} mounts the store where the config says`);
          const configMount = entry.volumeMounts?.find((mount) => mount.name === "config");
          assert.equal(`${configMount?.mountPath ?? ""}/faceops.yaml`, env.FACEOPS_CONFIG, `${template.owner}: FACEOPS_CONFIG is the mounted file`);
          if (template.owner === "Deployment faceops-controller") {
            const { kubernetes } = withEnv.config;
            assert.deepEqual({ gpus: kubernetes.gpus, tolerations: kubernetes.tolerations, trainerImage: kubernetes.trainerImage }, expected[render], `${render}: what the training Jobs get`);
          }
        }
      }
    }
  });

  test("every pod runs unprivileged, read-only, with requests and limits", () => {
    const templates = podTemplates(renders.gpu);
    assert.deepEqual(templates.map((template) => template.owner).sort(), ["Deployment faceops-controller", "Deployment faceops-inference"]);
    for (const { owner, spec } of templates) {
      assert.deepEqual(spec.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } }, `${owner}: pod securityContext`);
      assert.ok(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC, `${owner}: no host namespaces`);
      for (const entry of containersOf(spec)) {
        const where = `${owner} container ${entry.name}`;
        assert.deepEqual(entry.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } }, `${where}: securityContext`);
        for (const kind of ["requests", "limits"] as const) {
          for (const resource of ["cpu", "memory"]) assert.ok(entry.resources?.[kind]?.[resource] !== undefined, `${where}: ${kind}.${resource}`);
        }
        assert.equal(entry.image, image, `${where}: the pinned faceops image`);
        // A read-only root: /tmp is an emptyDir.
        const tmp = entry.volumeMounts?.find((mount) => mount.mountPath === "/tmp");
        assert.ok(tmp && spec.volumes?.find((volume) => volume.name === tmp.name)?.emptyDir, `${where}: /tmp is an emptyDir`);
      }
    }

    const serviceAccount = (name: string) => find<IServiceAccount>(renders.gpu, "ServiceAccount", name);
    const inference = find<IDeployment>(renders.gpu, "Deployment", "faceops-inference").spec?.template.spec;
    assert.equal(inference?.serviceAccountName, "faceops-workload");
    assert.equal(inference?.automountServiceAccountToken, false);
    assert.equal(serviceAccount("faceops-workload").automountServiceAccountToken, false);
    const controller = find<IDeployment>(renders.gpu, "Deployment", "faceops-controller").spec?.template.spec;
    assert.equal(controller?.serviceAccountName, "faceops-controller");
    assert.notEqual(controller?.automountServiceAccountToken, false, "the controller gets its token");
    assert.notEqual(serviceAccount("faceops-controller").automountServiceAccountToken, false);
  });

  test("the inference pods and the training Job size the face path's workers from their CPUs (the downward API), which are set", async () => {
    const inference = find<IDeployment>(renders.gpu, "Deployment", "faceops-inference").spec?.template.spec;
    const server = containersOf(inference as NonNullable<typeof inference>).find((entry) => entry.name === "faceops");
    assert.deepEqual(server?.env?.find((variable) => variable.name === "FACEOPS_ENGINE_WORKERS")?.valueFrom, { resourceFieldRef: { resource: "limits.cpu", divisor: "1" } });
    assert.ok(server?.resources?.limits?.cpu, "the inference container has a CPU limit to count");
    const job = jobTemplate(await trainingJob(renders.gpu), "the training Job");
    const attempt = containersOf(job.spec).find((entry) => entry.name === "attempt");
    assert.deepEqual(attempt?.env?.find((variable) => variable.name === "FACEOPS_ENGINE_WORKERS")?.valueFrom, { resourceFieldRef: { resource: "requests.cpu", divisor: "1" } });
    assert.ok(attempt?.resources?.requests?.cpu, "the training container has a CPU request to count");
  });

  test("every container requests and limits ephemeral storage, and every emptyDir is bounded below that limit (the training Job too)", async () => {
    const templates = [...podTemplates(renders.gpu), jobTemplate(await trainingJob(renders.gpu), "the training Job")];
    for (const { owner, spec } of templates) {
      let podLimit = 0;
      for (const entry of containersOf(spec)) {
        const where = `${owner} container ${entry.name}`;
        const request = entry.resources?.requests?.["ephemeral-storage"];
        const limit = entry.resources?.limits?.["ephemeral-storage"];
        assert.ok(request !== undefined && limit !== undefined, `${where}: ephemeral-storage request and limit`);
        assert.ok(quantityValue(String(request)) <= quantityValue(String(limit)), `${where}: the request (${String(request)}) is within the limit (${String(limit)})`);
        podLimit += quantityValue(String(limit));
      }
      const emptyDirs = (spec.volumes ?? []).filter((volume) => volume.emptyDir !== undefined);
      assert.ok(emptyDirs.length > 0, `${owner} has its /tmp`);
      for (const volume of emptyDirs) {
        const size = volume.emptyDir?.sizeLimit;
        assert.ok(size !== undefined, `${owner}: emptyDir ${volume.name} has a sizeLimit`);
        // Below the pod's limit, so the volume's own bound is hit first and logs keep some room.
        assert.ok(quantityValue(String(size)) < podLimit, `${owner}: emptyDir ${volume.name} (${String(size)}) is below the pod's ephemeral-storage limit`);
        assert.equal(volume.emptyDir?.medium, undefined, `${owner}: ${volume.name} is on disk, not in the memory limit`);
      }
    }
  });

  test("the training Job runs as a ServiceAccount of its own, with no token and no Role", async () => {
    for (const render of ["gpu", "cpu"] as const) {
      const { config } = await controllerConfig(renders[render]);
      const pod = jobTemplate(await trainingJob(renders[render])).spec;
      assert.equal(config.kubernetes.trainerServiceAccount, "faceops-trainer");
      assert.equal(pod.serviceAccountName, config.kubernetes.trainerServiceAccount, `${render}: the Job names kubernetes.trainerServiceAccount`);
      assert.equal(pod.automountServiceAccountToken, false);
      const account = find<IServiceAccount>(renders[render], "ServiceAccount", config.kubernetes.trainerServiceAccount);
      assert.equal(account.automountServiceAccountToken, false, `${render}: the ServiceAccount mounts no token either`);
      const bound = renders[render]
        .filter((object) => object.kind === "RoleBinding" || object.kind === "ClusterRoleBinding")
        .filter((binding) => (binding as unknown as IRoleBinding).subjects?.some((subject) => subject.kind === "ServiceAccount" && subject.name === account.metadata?.name));
      assert.deepEqual(bound.map(id), [], `${render}: nothing grants the training pods a right`);
    }
  });

  test("every pod that listens sets serve.host itself, to 0.0.0.0, rather than relying on the default", async () => {
    const file = join(root, "k8s/base/faceops.yaml");
    for (const render of ["gpu", "cpu"] as const) {
      let listening = 0;
      for (const template of podTemplates(renders[render])) {
        for (const entry of containersOf(template.spec)) {
          if ((entry.ports ?? []).length === 0) continue;
          listening += 1;
          const env = podEnvironment(entry.env);
          assert.equal(env.FACEOPS_CONFIG, "/etc/faceops/faceops.yaml", `${template.owner}: reads the mounted faceops.yaml`);
          const loaded = await loadConfig({ file, env });
          // A pod reached through a Service must listen on every interface; the program's own default is for a laptop.
          assert.equal(loaded.config.serve.host, "0.0.0.0", `${render}: ${template.owner} ${entry.name} listens on every interface`);
          assert.ok(loaded.origins.has("serve.host"), `${render}: ${template.owner} ${entry.name} sets serve.host explicitly (it came from the default)`);
        }
      }
      assert.equal(listening, 2, `${render}: the controller and the inference server listen`);
    }
  });

  test("the Role grants exactly the API calls the controller makes, to the controller alone", () => {
    const role = find<IRole>(renders.gpu, "Role", "faceops-controller");
    assert.deepEqual(role.rules, [
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "delete", "get", "list", "watch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["list"] },
      { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "patch"] },
    ]);
    const binding = find<IRoleBinding>(renders.gpu, "RoleBinding", "faceops-controller");
    assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "faceops-controller" });
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "faceops-controller", namespace }]);
    assert.equal(renders.gpu.filter((object) => /^(Cluster)?Role(Binding)?$/.test(object.kind)).length, 2, "no other Role or any ClusterRole");
  });

  test("every Secret, ConfigMap, claim and ServiceAccount a pod references exists in the render or is optional", () => {
    for (const render of ["gpu", "cpu"] as const) {
      const objects = renders[render];
      const named = (kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name);
      const configMapHas = (name: string, key?: string) => {
        const configMap = named("ConfigMap", name) as IConfigMap | undefined;
        return configMap !== undefined && (key === undefined || key in (configMap.data ?? {}) || key in (configMap.binaryData ?? {}));
      };
      const secretHas = (name: string) => named("Secret", name) !== undefined;
      for (const { owner, spec } of podTemplates(objects)) {
        const problems: string[] = [];
        const need = (present: boolean, optional: boolean | undefined, what: string) => {
          if (!present && optional !== true) problems.push(what);
        };
        for (const volume of spec.volumes ?? []) {
          if (volume.configMap) need(configMapHas(volume.configMap.name ?? ""), volume.configMap.optional, `ConfigMap ${volume.configMap.name ?? ""} (volume ${volume.name})`);
          if (volume.secret) need(secretHas(volume.secret.secretName ?? ""), volume.secret.optional, `Secret ${volume.secret.secretName ?? ""} (volume ${volume.name})`);
          if (volume.persistentVolumeClaim) need(named("PersistentVolumeClaim", volume.persistentVolumeClaim.claimName) !== undefined, false, `claim ${volume.persistentVolumeClaim.claimName}`);
          for (const source of volume.projected?.sources ?? []) {
            if (source.configMap) need(configMapHas(source.configMap.name ?? ""), source.configMap.optional, `ConfigMap ${source.configMap.name ?? ""} (projected)`);
            if (source.secret) need(secretHas(source.secret.name ?? ""), source.secret.optional, `Secret ${source.secret.name ?? ""} (projected)`);
          }
        }
        for (const entry of containersOf(spec)) {
          for (const variable of entry.env ?? []) {
            const { configMapKeyRef, secretKeyRef } = variable.valueFrom ?? {};
            if (configMapKeyRef) need(configMapHas(configMapKeyRef.name ?? "", configMapKeyRef.key), configMapKeyRef.optional, `ConfigMap ${configMapKeyRef.name ?? ""} key ${configMapKeyRef.key} (env ${variable.name})`);
            if (secretKeyRef) need(secretHas(secretKeyRef.name ?? ""), secretKeyRef.optional, `Secret ${secretKeyRef.name ?? ""} key ${secretKeyRef.key} (env ${variable.name})`);
          }
          for (const source of entry.envFrom ?? []) {
            if (source.configMapRef) need(configMapHas(source.configMapRef.name ?? ""), source.configMapRef.optional, `ConfigMap ${source.configMapRef.name ?? ""} (envFrom)`);
            if (source.secretRef) need(secretHas(source.secretRef.name ?? ""), source.secretRef.optional, `Secret ${source.secretRef.name ?? ""} (envFrom)`);
          }
          for (const mount of entry.volumeMounts ?? []) need(spec.volumes?.some((volume) => volume.name === mount.name) ?? false, false, `volume ${mount.name} mounted by ${entry.name}`);
        }
        need(spec.serviceAccountName === undefined || named("ServiceAccount", spec.serviceAccountName) !== undefined, false, `ServiceAccount ${spec.serviceAccountName ?? ""}`);
        need((spec.imagePullSecrets ?? []).length === 0, false, "image pull secrets");
        assert.deepEqual(problems, [], `${render}: ${owner} references what the render does not hold`);
      }
    }
  });

  test("the controller Deployment runs `faceops up --platform kubernetes` once, with its secrets optional", () => {
    const deployment = find<IDeployment>(renders.gpu, "Deployment", "faceops-controller");
    assert.equal(deployment.spec?.replicas, 1);
    assert.deepEqual(deployment.spec?.strategy, { type: "Recreate" });
    const pod = deployment.spec?.template.spec;
    assert.equal(pod?.containers.length, 1);
    const controller = container(deployment, "controller");
    assert.deepEqual([controller.image, controller.command, controller.args], [image, ["faceops"], ["up", "--platform", "kubernetes"]]);
    assert.deepEqual(controller.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    assert.deepEqual(envVar(controller, "FACEOPS_CONFIG"), { name: "FACEOPS_CONFIG", value: "/etc/faceops/faceops.yaml" });
    const secretEnv = (name: string, secret: string, key: string) => assert.deepEqual(envVar(controller, name), { name, valueFrom: { secretKeyRef: { name: secret, key, optional: true } } });
    secretEnv("FACEOPS_WEBHOOK_SECRET", "faceops-secrets", "webhook-secret");
    secretEnv("FACEOPS_API_TOKEN", "faceops-secrets", "api-token");
    secretEnv("FACEOPS_GIT_USERNAME", "faceops-git", "username");
    secretEnv("FACEOPS_GIT_PASSWORD", "faceops-git", "password");
    const mounts = Object.fromEntries((controller.volumeMounts ?? []).map((mount) => [mount.mountPath, mount]));
    assert.deepEqual(Object.keys(mounts).sort(), ["/etc/faceops", "/store", "/tmp"]);
    assert.equal(mounts["/etc/faceops"]?.readOnly, true);
    assert.notEqual(mounts["/store"]?.readOnly, true, "the controller writes the store");
    // Alive while the process answers; ready (in the Service) once the controller's loop runs.
    assert.deepEqual(controller.livenessProbe?.httpGet, { path: "/healthz", port: "http" });
    assert.deepEqual(controller.readinessProbe?.httpGet, { path: "/readyz", port: "http" });

    const service = find<IService>(renders.gpu, "Service", "faceops-controller");
    assert.deepEqual(service.spec?.ports, [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    assert.ok(selects(service.spec?.selector, deployment.spec?.template.metadata?.labels), "the Service selects the controller");
    assert.ok(!selects(service.spec?.selector, find<IDeployment>(renders.gpu, "Deployment", "faceops-inference").spec?.template.metadata?.labels), "and not the inference pods");
  });

  test("the inference Deployment rolls one new pod at a time, ready only with a model, and drains on SIGTERM", async () => {
    const deployment = find<IDeployment>(renders.gpu, "Deployment", "faceops-inference");
    const spec = deployment.spec;
    assert.equal(spec?.replicas, 2);
    assert.deepEqual(spec?.strategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    assert.equal(spec?.progressDeadlineSeconds, 300);
    assert.ok(selects(spec?.selector.matchLabels, spec?.template.metadata?.labels), "the selector matches the pods");
    const pod = spec?.template.spec;
    assert.equal(pod?.containers.length, 1);
    // KubernetesDeployer patches the env of the container named faceops.
    const server = container(deployment, "faceops");
    assert.deepEqual([server.image, server.command, server.args], [image, ["faceops"], ["serve"]]);
    assert.deepEqual(server.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    assert.deepEqual(envVar(server, "FACEOPS_MODEL_VERSION"), { name: "FACEOPS_MODEL_VERSION", value: "" });
    assert.deepEqual(envVar(server, "FACEOPS_CONFIG"), { name: "FACEOPS_CONFIG", value: "/etc/faceops/faceops.yaml" });
    assert.equal(server.env?.some((variable) => variable.valueFrom?.secretKeyRef !== undefined || variable.valueFrom?.configMapKeyRef !== undefined), false, "the inference pods get no secrets");
    const mounts = Object.fromEntries((server.volumeMounts ?? []).map((mount) => [mount.mountPath, mount]));
    assert.deepEqual(Object.keys(mounts).sort(), ["/etc/faceops", "/store", "/tmp"]);
    assert.equal(mounts["/store"]?.readOnly, true, "the inference pods only read the store");
    assert.equal(mounts["/etc/faceops"]?.readOnly, true);
    assert.equal(pod?.volumes?.find((volume) => volume.name === mounts["/store"]?.name)?.persistentVolumeClaim?.readOnly, true);

    assert.deepEqual(server.readinessProbe?.httpGet, { path: "/readyz", port: "http" });
    assert.deepEqual(server.livenessProbe?.httpGet, { path: "/healthz", port: "http" });
    assert.deepEqual(server.startupProbe?.httpGet, { path: "/healthz", port: "http" });
    const readiness = server.readinessProbe ?? {};
    const liveness = server.livenessProbe ?? {};
    const startup = server.startupProbe ?? {};
    assert.ok((readiness.periodSeconds ?? 10) <= 10, "readiness is noticed within seconds");
    assert.ok((liveness.periodSeconds ?? 10) * (liveness.failureThreshold ?? 3) >= 30, "liveness tolerates a slow model load");
    assert.ok((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3) >= 180, "start-up (the inference engine loading on a cold node) gets minutes");
    assert.equal(liveness.initialDelaySeconds, undefined, "the startup probe holds liveness back, not a guessed delay");
    assert.ok((liveness.timeoutSeconds ?? 1) >= 2 && (readiness.timeoutSeconds ?? 1) >= 2 && (startup.timeoutSeconds ?? 1) >= 2, "probes tolerate a busy event loop");
    assert.equal(server.lifecycle, undefined, "no preStop hook: the server drains on SIGTERM");

    const { config } = await loadConfig({ file: join(root, "k8s/base/faceops.yaml") });
    assert.equal(pod?.terminationGracePeriodSeconds, 30);
    assert.equal(config.serve.gracePeriod, 25_000);
    assert.ok(config.serve.gracePeriod < (pod?.terminationGracePeriodSeconds ?? 30) * 1000, "the server gives up on stragglers before the kubelet kills it");

    const budget = find<IPodDisruptionBudget>(renders.gpu, "PodDisruptionBudget", "faceops-inference");
    assert.equal(budget.spec?.minAvailable, 1);
    assert.deepEqual(budget.spec?.selector?.matchLabels, spec?.selector.matchLabels);
    assert.ok(selects(budget.spec?.selector?.matchLabels, spec?.template.metadata?.labels));

    const service = find<IService>(renders.gpu, "Service", "faceops-inference");
    assert.deepEqual(service.spec?.ports, [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    assert.ok(selects(service.spec?.selector, spec?.template.metadata?.labels), "the Service selects the inference pods");
    assert.ok(!selects(service.spec?.selector, find<IDeployment>(renders.gpu, "Deployment", "faceops-controller").spec?.template.metadata?.labels), "and not the controller");

    const claim = find<KubeObject>(renders.gpu, "PersistentVolumeClaim", "faceops-store") as { spec?: { accessModes?: string[]; resources?: { requests?: Record<string, string> } } };
    assert.deepEqual(claim.spec?.accessModes, ["ReadWriteMany"]);
    assert.equal(claim.spec?.resources?.requests?.storage, "20Gi");
  });

  test("each probe path answers on the app its pod runs: liveness while starting, readiness only once it can serve", async () => {
    const probes = (deployment: string, name: string) => {
      const entry = container(find<IDeployment>(renders.gpu, "Deployment", deployment), name);
      return { startup: entry.startupProbe?.httpGet?.path, liveness: entry.livenessProbe?.httpGet?.path, readiness: entry.readinessProbe?.httpGet?.path };
    };
    const get = async (url: string, path: string | undefined) => (path === undefined ? undefined : (await fetch(`${url}${path}`)).status);

    // The controller (`faceops up --platform kubernetes` serves createControllerApp): ready once its loop runs.
    const controller = probes("faceops-controller", "controller");
    assert.notEqual(controller.liveness, controller.readiness, "the controller's liveness and readiness differ");
    let ready = false;
    const log = silentLogger();
    const controllerApp = createControllerApp({ router: express.Router(), registry: new Registry(), log, ready: () => ready });
    const controllerServer = await listen(controllerApp, { name: "controller", port: 0, host: "127.0.0.1", graceMs: 1_000, log });
    try {
      assert.deepEqual({ liveness: await get(controllerServer.url, controller.liveness), readiness: await get(controllerServer.url, controller.readiness) }, { liveness: 200, readiness: 503 }, "starting: alive, not ready");
      ready = true;
      assert.deepEqual({ liveness: await get(controllerServer.url, controller.liveness), readiness: await get(controllerServer.url, controller.readiness) }, { liveness: 200, readiness: 200 }, "running");
    } finally {
      await controllerServer.shutdown("test over");
    }

    // The inference server (`faceops serve`): started and alive with no model, ready only with one
    // (test/serve/app.test.ts loads one and sees /readyz turn 200).
    const inference = probes("faceops-inference", "faceops");
    const service = await startService();
    try {
      assert.deepEqual(
        { startup: await get(service.url, inference.startup), liveness: await get(service.url, inference.liveness), readiness: await get(service.url, inference.readiness) },
        { startup: 200, liveness: 200, readiness: 503 },
      );
    } finally {
      await service.close();
    }
  });

  test("k8s/secrets.example.yaml holds placeholders for every secret key the pods read, and no kustomization applies it", async () => {
    const secrets = parseYamlObjects(await readFile(join(root, "k8s/secrets.example.yaml"), "utf8"), "k8s/secrets.example.yaml");
    for (const secret of secrets) validateKubernetesObject(secret);
    assert.deepEqual(secrets.map(id), ["Secret faceops-secrets", "Secret faceops-git"]);
    const referenced = new Map<string, Set<string>>();
    for (const { spec } of podTemplates(renders.gpu)) {
      for (const entry of containersOf(spec)) {
        for (const variable of entry.env ?? []) {
          const ref = variable.valueFrom?.secretKeyRef;
          if (ref) referenced.set(ref.name ?? "", (referenced.get(ref.name ?? "") ?? new Set()).add(ref.key));
        }
      }
    }
    for (const secret of secrets as unknown as ISecret[]) {
      assert.equal(secret.metadata?.namespace, namespace);
      const keys = Object.keys(secret.stringData ?? {});
      assert.deepEqual(keys.sort(), [...(referenced.get(secret.metadata?.name ?? "") ?? [])].sort(), `${secret.metadata?.name ?? ""} has the keys the pods read`);
      for (const [key, value] of Object.entries(secret.stringData ?? {})) assert.match(value, /^REPLACE-/, `${key} is an obvious placeholder`);
      assert.equal(secret.data, undefined);
    }

    const kustomizations: string[] = [];
    const walk = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await walk(join(dir, entry.name));
        else if (entry.name === "kustomization.yaml") kustomizations.push(join(dir, entry.name));
      }
    };
    await walk(join(root, "k8s"));
    assert.ok(kustomizations.length >= 4);
    for (const path of kustomizations) {
      const strings: string[] = [];
      const collect = (value: unknown): void => {
        if (typeof value === "string") strings.push(value);
        else if (Array.isArray(value)) value.forEach(collect);
        else if (value && typeof value === "object") Object.values(value).forEach(collect);
      };
      collect(parseYamlObjects(await readFile(path, "utf8"), path));
      assert.equal(strings.some((value) => value.includes("secrets.example")), false, `${relative(root, path)} does not apply the example secrets`);
    }
    for (const render of Object.values(renders)) assert.equal(render.some((object) => object.kind === "Secret"), false);
  });
});

describe("k8s network policies", () => {
  before(() => renderAll());

  const policiesOf = (objects: readonly KubeObject[]) => objects.filter((object) => object.kind === "NetworkPolicy") as unknown as INetworkPolicy[];

  /** The pods of a render and of the namespaces around it, as the policies see them. */
  async function endpoints(objects: readonly KubeObject[]) {
    const pod = (name: string): PodEndpoint => {
      const template = find<IDeployment>(objects, "Deployment", name).spec?.template;
      return { namespace, labels: template?.metadata?.labels ?? {}, ports: template?.spec?.containers.flatMap((entry) => entry.ports ?? []) };
    };
    // A training pod carries the Job's template labels plus those the Job controller adds.
    const job = jobTemplate(await trainingJob(objects));
    return {
      inference: pod("faceops-inference"),
      controller: pod("faceops-controller"),
      trainer: { namespace, labels: { ...job.labels, "batch.kubernetes.io/job-name": "faceops-7-a2", "job-name": "faceops-7-a2" } } satisfies PodEndpoint,
      neighbour: { namespace, labels: { app: "debug-shell" } } satisfies PodEndpoint,
      prometheus: { namespace: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" } } satisfies PodEndpoint,
      ingressController: { namespace: "ingress-nginx", labels: { "app.kubernetes.io/name": "ingress-nginx" } } satisfies PodEndpoint,
      elsewhere: { namespace: "default", labels: { app: "web" } } satisfies PodEndpoint,
      coredns: {
        namespace: "kube-system",
        labels: { "k8s-app": "kube-dns" },
        ports: [
          { name: "dns", containerPort: 53, protocol: "UDP" },
          { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
        ],
      } satisfies PodEndpoint,
      strayResolver: { namespace: "default", labels: { "k8s-app": "kube-dns" } } satisfies PodEndpoint,
      // The API server's and the git server's addresses, outside the pod network.
      outside: { ip: "203.0.113.10" },
      cloudMetadata: { ip: "169.254.169.254" },
    };
  }

  test("every workload is isolated both ways by the namespace's default deny and opened by a policy of its own", async () => {
    for (const render of ["base", "gpu", "cpu"] as const) {
      const policies = policiesOf(renders[render]);
      assert.deepEqual(policies.map((policy) => policy.metadata?.name).sort(), ["faceops-controller", "faceops-default-deny", "faceops-inference", "faceops-trainer"]);
      const deny = policies.find((policy) => policy.metadata?.name === "faceops-default-deny");
      assert.deepEqual(deny?.spec, { podSelector: {}, policyTypes: ["Ingress", "Egress"] }, `${render}: the default deny selects every pod and allows nothing`);
      const pods = await endpoints(renders[render]);
      for (const workload of ["inference", "controller", "trainer"] as const) {
        const labels: Record<string, string> = pods[workload].labels;
        const own = policies.filter((policy) => policy.metadata?.name !== "faceops-default-deny" && Object.entries(policy.spec?.podSelector?.matchLabels ?? {}).every(([key, value]) => labels[key] === value));
        assert.deepEqual(own.map((policy) => policy.metadata?.name), [`faceops-${workload}`], `${render}: one allow policy selects the ${workload} pods`);
        assert.deepEqual(own[0]?.spec?.policyTypes, ["Ingress", "Egress"], `${render}: faceops-${workload} states both directions`);
      }
    }
  });

  test("traffic allowed and denied, connection by connection", async () => {
    const pods = await endpoints(renders.gpu);
    // The default deny holds every pod of the namespace, so another one sends only what a policy of
    // its own allows: here, anything (which makes each denial below the receiving side's doing).
    const neighbourEgress: INetworkPolicy = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "debug-shell", namespace }, spec: { podSelector: { matchLabels: pods.neighbour.labels }, policyTypes: ["Egress"], egress: [{}] } };
    const cluster = { policies: [...policiesOf(renders.gpu), neighbourEgress], namespaces: {} };
    const http = 8080;
    const flows: Array<[string, Connection, boolean]> = [
      ["a pod of the namespace calls the inference service", { from: pods.neighbour, to: pods.inference, port: http }, true],
      ["Prometheus scrapes an inference pod", { from: pods.prometheus, to: pods.inference, port: http }, true],
      ["Prometheus scrapes the controller", { from: pods.prometheus, to: pods.controller, port: http }, true],
      ["a webhook or Jenkins, through the ingress controller, reaches the controller", { from: pods.ingressController, to: pods.controller, port: http }, true],
      ["the controller resolves names (UDP)", { from: pods.controller, to: pods.coredns, port: 53, protocol: "UDP" }, true],
      ["the controller resolves names (TCP)", { from: pods.controller, to: pods.coredns, port: 53, protocol: "TCP" }, true],
      ["the controller reaches the API server of a managed cluster, or an https git remote", { from: pods.controller, to: pods.outside, port: 443 }, true],
      ["the controller reaches a kubeadm API server", { from: pods.controller, to: pods.outside, port: 6443 }, true],
      ["the controller reaches an ssh git remote", { from: pods.controller, to: pods.outside, port: 22 }, true],
      ["a training pod resolves names", { from: pods.trainer, to: pods.coredns, port: 53, protocol: "UDP" }, true],
      ["a training pod reaches an https git remote (and the weights' host)", { from: pods.trainer, to: pods.outside, port: 443 }, true],
      ["a training pod reaches an ssh git remote", { from: pods.trainer, to: pods.outside, port: 22 }, true],

      ["another namespace calls the inference service", { from: pods.elsewhere, to: pods.inference, port: http }, false],
      ["the ingress controller calls the inference service (add it in the overlay to expose it)", { from: pods.ingressController, to: pods.inference, port: http }, false],
      ["Prometheus tries another port of an inference pod", { from: pods.prometheus, to: pods.inference, port: 9229 }, false],
      ["a pod of the namespace calls the controller", { from: pods.neighbour, to: pods.controller, port: http }, false],
      ["an inference pod calls the controller", { from: pods.inference, to: pods.controller, port: http }, false],
      ["another namespace calls the controller", { from: pods.elsewhere, to: pods.controller, port: http }, false],
      ["the ingress controller tries another port of the controller", { from: pods.ingressController, to: pods.controller, port: 9229 }, false],
      ["an inference pod resolves names", { from: pods.inference, to: pods.coredns, port: 53, protocol: "UDP" }, false],
      ["an inference pod reaches out", { from: pods.inference, to: pods.outside, port: 443 }, false],
      ["the controller asks the cloud metadata service for credentials", { from: pods.controller, to: pods.cloudMetadata, port: 80 }, false],
      ["the controller speaks plain http outside", { from: pods.controller, to: pods.outside, port: 80 }, false],
      ["the controller calls an inference pod", { from: pods.controller, to: pods.inference, port: http }, false],
      ["the controller asks a resolver that is not the cluster's", { from: pods.controller, to: pods.strayResolver, port: 53, protocol: "UDP" }, false],
      ["a training pod reaches the API server", { from: pods.trainer, to: pods.outside, port: 6443 }, false],
      ["a training pod calls the inference service", { from: pods.trainer, to: pods.inference, port: http }, false],
      ["a training pod calls the controller", { from: pods.trainer, to: pods.controller, port: http }, false],
      ["a training pod asks the cloud metadata service", { from: pods.trainer, to: pods.cloudMetadata, port: 80 }, false],
      ["a pod of the namespace connects to a training pod", { from: pods.neighbour, to: pods.trainer, port: 9229 }, false],
    ];
    assert.equal(connectionAllowed({ ...cluster, policies: policiesOf(renders.gpu) }, { from: pods.neighbour, to: pods.inference, port: http }), false, "a pod of the namespace with no egress policy of its own sends nothing");
    for (const [what, connection, allowed] of flows) assert.equal(connectionAllowed(cluster, connection), allowed, `${what}: ${allowed ? "allowed" : "denied"}`);
    // Without the policies (a cluster with no NetworkPolicy controller enforces none), everything flows.
    for (const [what, connection] of flows) assert.equal(connectionAllowed({ policies: [], namespaces: {} }, connection), true, `${what}, unenforced`);
  });

  test("an overlay names the namespaces scrapes and webhooks come from; a base that moved fails the build", async () => {
    const copy = join(work, "k8s");
    await cp(join(root, "k8s"), copy, { recursive: true });
    const overlay = join(copy, "overlays/gpu/kustomization.yaml");
    const text = await readFile(overlay, "utf8");
    // The `replace` values are the knobs; the `test` lines hold the base's values.
    const edited = text
      .replace(/(- op: replace\n\s+path: \/spec\/ingress\/0\/from\/\d\/namespaceSelector\/matchLabels\/kubernetes\.io~1metadata\.name\n\s+value: )monitoring/g, "$1observability")
      .replace(/(- op: replace\n\s+path: [^\n]+\n\s+value: )ingress-nginx/, "$1traefik");
    assert.equal(edited.match(/value: observability/g)?.length, 2, "both scrape sources are set in the overlay");
    assert.equal(edited.match(/value: traefik/g)?.length, 1);
    await writeFile(overlay, edited);
    const objects = await kustomizeBuild(join(copy, "overlays/gpu"));
    const pods = await endpoints(objects);
    const cluster = { policies: policiesOf(objects), namespaces: {} };
    const prometheusThere = { ...pods.prometheus, namespace: "observability" };
    const traefik = { namespace: "traefik", labels: { "app.kubernetes.io/name": "traefik" } };
    assert.equal(connectionAllowed(cluster, { from: prometheusThere, to: pods.inference, port: 8080 }), true);
    assert.equal(connectionAllowed(cluster, { from: prometheusThere, to: pods.controller, port: 8080 }), true);
    assert.equal(connectionAllowed(cluster, { from: traefik, to: pods.controller, port: 8080 }), true);
    assert.equal(connectionAllowed(cluster, { from: pods.prometheus, to: pods.inference, port: 8080 }), false, "the base's monitoring namespace no longer");
    assert.equal(connectionAllowed(cluster, { from: pods.ingressController, to: pods.controller, port: 8080 }), false);

    // The base's ingress sources in another order: the overlay's test operations refuse to patch the wrong one.
    const base = join(copy, "base/network-policy.yaml");
    const policies = await readFile(base, "utf8");
    await writeFile(base, policies.replace("kubernetes.io/metadata.name: ingress-nginx", "kubernetes.io/metadata.name: ingress-system"));
    await assert.rejects(kustomizeBuild(join(copy, "overlays/gpu")), /testing value \/spec\/ingress\/0\/from\/1\/namespaceSelector\/matchLabels\/kubernetes\.io~1metadata\.name failed/);
  });
});

describe("k8s monitoring", () => {
  let series: Set<string>;
  before(async () => {
    await renderAll();
    series = await exposedSeries();
  });

  const checkMetrics = (expr: string, where: string) => {
    const used = referencedMetrics(expr);
    assert.ok(used.length > 0 || /\bup\b/.test(expr), `${where} reads a faceops metric`);
    for (const name of used) assert.ok(series.has(name), `${where}: ${name} is not a metric faceops exposes`);
  };

  test("the ServiceMonitor scrapes /metrics on the http port of both Services", () => {
    const monitor = find<IServiceMonitor>(renders.monitoring, "ServiceMonitor", "faceops");
    assert.deepEqual(monitor.spec.selector.matchLabels, { "app.kubernetes.io/name": "faceops" });
    assert.deepEqual(monitor.spec.namespaceSelector?.matchNames, [namespace]);
    assert.deepEqual(
      monitor.spec.endpoints?.map((endpoint) => [endpoint.port, endpoint.path]),
      [["http", "/metrics"]],
    );
    const services = renders.gpu.filter((object) => object.kind === "Service") as unknown as IService[];
    assert.deepEqual(services.map((service) => service.metadata?.name).sort(), ["faceops-controller", "faceops-inference"]);
    for (const service of services) {
      assert.ok(selects(monitor.spec.selector.matchLabels, service.metadata?.labels), `the ServiceMonitor selects ${service.metadata?.name ?? ""}`);
      assert.ok(service.spec?.ports?.some((port) => port.name === "http"), `${service.metadata?.name ?? ""} has a port named http`);
    }
  });

  test("the alerting rules are valid for promtool, read metrics faceops exposes, and say what to do", async (t) => {
    const rule = find<IPrometheusRule>(renders.monitoring, "PrometheusRule", "faceops");
    const groups = rule.spec.groups ?? [];
    const alerts = groups.flatMap((group) => group.rules ?? []);
    assert.ok(alerts.length >= 5);
    assert.equal(new Set(alerts.map((alert) => alert.alert)).size, alerts.length, "alert names are unique");
    for (const alert of alerts) {
      assert.match(alert.alert ?? "", /^Faceops[A-Za-z]+$/, "an alert, not a recording rule");
      checkMetrics(String(alert.expr), alert.alert ?? "");
      assert.match(alert.labels?.severity ?? "", /^(critical|warning)$/, `${alert.alert ?? ""} has a severity`);
      assert.ok(alert.annotations?.summary && alert.annotations.description, `${alert.alert ?? ""} has a summary and a description`);
    }
    const read = new Set(alerts.flatMap((alert) => [...referencedMetrics(String(alert.expr)), ...(/\bup\b/.test(String(alert.expr)) ? ["up"] : [])]));
    for (const name of ["up", "faceops_runs_total", "faceops_model_load_failures_total", "http_request_duration_seconds_bucket", "faceops_controller_errors_total"]) assert.ok(read.has(name), `an alert watches ${name}`);
    if (!requires(t, promtool)) return;
    assert.match(await promtoolCheckRules(groups, "prometheusrule"), /SUCCESS/);
  });

  test("the Grafana dashboard is a ConfigMap Grafana's sidecar loads, with panels on metrics faceops exposes", async (t) => {
    const configMap = find<IConfigMap>(renders.monitoring, "ConfigMap", "faceops-grafana-dashboard");
    assert.equal(configMap.metadata?.labels?.grafana_dashboard, "1");
    const files = Object.entries(configMap.data ?? {});
    assert.equal(files.length, 1);
    const [name, text] = files[0] as [string, string];
    assert.match(name, /\.json$/);
    const dashboard = JSON.parse(text) as {
      uid: string;
      title: string;
      schemaVersion: number;
      templating: { list: Array<{ name: string; type: string; query: string }> };
      panels: Array<{ id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string }; targets: Array<{ refId: string; expr: string }> }>;
    };
    assert.equal(dashboard.uid, "faceops");
    assert.ok(dashboard.title && dashboard.schemaVersion >= 36);
    assert.ok(dashboard.templating.list.some((variable) => variable.name === "datasource" && variable.type === "datasource" && variable.query === "prometheus"));
    assert.ok(dashboard.panels.length >= 4);
    assert.equal(new Set(dashboard.panels.map((panel) => panel.id)).size, dashboard.panels.length, "panel ids are unique");

    const rules: Array<{ record: string; expr: string }> = [];
    dashboard.panels.forEach((panel, index) => {
      const { x, y, w, h } = panel.gridPos;
      assert.ok(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24, `${panel.title} fits the 24-column grid`);
      for (const other of dashboard.panels.slice(index + 1)) {
        const b = other.gridPos;
        assert.ok(x + w <= b.x || b.x + b.w <= x || y + h <= b.y || b.y + b.h <= y, `${panel.title} and ${other.title} do not overlap`);
      }
      // Rows only group the panels after them: no query of their own.
      if (panel.type === "row") return;
      assert.ok(["stat", "timeseries", "gauge", "table", "bargauge", "heatmap"].includes(panel.type), `${panel.title}: a known panel type`);
      assert.equal(panel.datasource?.uid, "${datasource}");
      assert.ok(panel.targets.length > 0);
      assert.equal(new Set(panel.targets.map((target) => target.refId)).size, panel.targets.length);
      for (const target of panel.targets) {
        checkMetrics(target.expr, `${panel.title} ${target.refId}`);
        // Grafana's interval variables become durations so promtool can parse the expression.
        const expr = grafanaExprToPromQL(target.expr);
        assert.doesNotMatch(expr, /\$/, `${panel.title}: only Grafana's interval variables`);
        rules.push({ record: `faceops:dashboard_panel${panel.id}_${target.refId}`, expr });
      }
    });
    if (!requires(t, promtool)) return;
    assert.match(await promtoolCheckRules([{ name: "dashboard", rules }], "dashboard"), /SUCCESS/);
  });
});

/**
 * A container's environment as its process would see it: a secret's value stands in as "secret",
 * and a CPU count from the downward API (resourceFieldRef, divisor 1) as "2", what the kubelet
 * gives for a limit or request of 2 (or 1.5).
 */
function podEnvironment(env: ReadonlyArray<{ name: string; value?: string; valueFrom?: { resourceFieldRef?: unknown } }> | undefined): Record<string, string> {
  return Object.fromEntries((env ?? []).map((variable) => [variable.name, variable.value ?? (variable.valueFrom?.resourceFieldRef ? "2" : "secret")]));
}
