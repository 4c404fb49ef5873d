import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { kustomizeBuild, type KubeObject } from "../../helpers/kubectl.js";
import { jobTemplate, podTemplates, trainingJob } from "../../helpers/kube-manifests.js";
import { describeViolations, restrictedControls, restrictedViolations, type PodLike, type RestrictedControl } from "../../helpers/kube-pod-security.js";

/**
 * The "restricted" Pod Security Standard against every pod faceops makes: the pod templates of each
 * rendered kustomization and the training Job the controller builds (src/platform/kubernetes/job.ts)
 * with each overlay's settings. The namespace enforces that profile, so a pod breaking it would be
 * refused by the API server. The checker (test/helpers/kube-pod-security.ts) is itself tested against
 * one violation of each control of the Kubernetes documentation.
 */

const root = fileURLToPath(new URL("../../../", import.meta.url));
const overlays = { base: "k8s/base", gpu: "k8s/overlays/gpu", cpu: "k8s/overlays/cpu" } as const;
type Overlay = keyof typeof overlays;

describe("the restricted Pod Security Standard", () => {
  const renders = {} as Record<Overlay, KubeObject[]>;
  before(async () => {
    const built = await Promise.all(Object.values(overlays).map((dir) => kustomizeBuild(join(root, dir))));
    (Object.keys(overlays) as Overlay[]).forEach((name, index) => (renders[name] = built[index] as KubeObject[]));
  });

  test("the namespace enforces it, audits and warns, with enforce pinned to the version the pods were checked against", () => {
    for (const [overlay, objects] of Object.entries(renders)) {
      const namespaces = objects.filter((object) => object.kind === "Namespace");
      assert.equal(namespaces.length, 1, `${overlay} renders the namespace`);
      assert.deepEqual(namespaces[0]?.metadata.labels, {
        "app.kubernetes.io/name": "faceops",
        "app.kubernetes.io/part-of": "faceops",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "v1.34",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
      });
    }
  });

  test("every pod template of every overlay, and the training Job of each, meets it", async () => {
    for (const [overlay, objects] of Object.entries(renders)) {
      const templates = podTemplates(objects);
      assert.deepEqual(templates.map((template) => template.owner).sort(), ["Deployment faceops-controller", "Deployment faceops-inference"], `${overlay}: the workloads`);
      if (overlay !== "base") {
        templates.push(jobTemplate(await trainingJob(objects), "the training Job"), jobTemplate(await trainingJob(objects, { gitSecret: "" }), "the training Job without git credentials"));
      }
      for (const { owner, metadata, spec } of templates) {
        const violations = restrictedViolations({ metadata, spec });
        assert.equal(violations.length, 0, `${overlay}: ${owner} breaks the restricted profile:\n${describeViolations(violations)}`);
      }
    }
  });
});

describe("restrictedViolations", () => {
  /** A pod that meets the profile with the least it takes: the starting point of every case. */
  const compliant = (): PodLike & { spec: IPodSpec } => ({
    metadata: { annotations: {} },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "app",
          image: "example/app:1",
          ports: [{ name: "http", containerPort: 8080 }],
          readinessProbe: { httpGet: { path: "/readyz", port: "http" } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          volumeMounts: [{ name: "data", mountPath: "/data" }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
    },
  });
  const app = (pod: PodLike) => pod.spec.containers[0]!;
  const appContext = (pod: PodLike) => (app(pod).securityContext ??= {});
  const podContext = (pod: PodLike) => (pod.spec.securityContext ??= {});
  const helper = (pod: PodLike) => ({ name: "helper", image: "example/helper:1", securityContext: { ...appContext(pod) } });

  test("a compliant pod has no violation", () => {
    assert.deepEqual(restrictedViolations(compliant()), []);
  });

  // Each case breaks one rule once and names the control(s) that must be reported; a case with no
  // control is a value the profile allows, so the checker is not simply refusing whatever it sees.
  const cases: Array<[string, (pod: PodLike) => void, RestrictedControl[]]> = [
    ["a HostProcess pod", (pod) => (podContext(pod).windowsOptions = { hostProcess: true }), ["HostProcess"]],
    ["a HostProcess container", (pod) => (appContext(pod).windowsOptions = { hostProcess: true }), ["HostProcess"]],
    ["hostNetwork", (pod) => (pod.spec.hostNetwork = true), ["Host Namespaces"]],
    ["hostPID", (pod) => (pod.spec.hostPID = true), ["Host Namespaces"]],
    ["hostIPC", (pod) => (pod.spec.hostIPC = true), ["Host Namespaces"]],
    ["hostNetwork: false", (pod) => (pod.spec.hostNetwork = false), []],
    ["a privileged container", (pod) => (appContext(pod).privileged = true), ["Privileged Containers"]],
    ["a privileged init container", (pod) => (pod.spec.initContainers = [{ ...helper(pod), securityContext: { ...appContext(pod), privileged: true } }]), ["Privileged Containers"]],
    ["a privileged ephemeral container", (pod) => (pod.spec.ephemeralContainers = [{ ...helper(pod), securityContext: { ...appContext(pod), privileged: true } }]), ["Privileged Containers"]],
    ["adding SYS_ADMIN", (pod) => (appContext(pod).capabilities = { drop: ["ALL"], add: ["SYS_ADMIN"] }), ["Capabilities", "Capabilities (restricted)"]],
    ["adding CHOWN (Baseline allows it, Restricted does not)", (pod) => (appContext(pod).capabilities = { drop: ["ALL"], add: ["CHOWN"] }), ["Capabilities (restricted)"]],
    ["adding NET_BIND_SERVICE back", (pod) => (appContext(pod).capabilities = { drop: ["ALL"], add: ["NET_BIND_SERVICE"] }), []],
    ["not dropping ALL", (pod) => (appContext(pod).capabilities = { drop: ["NET_RAW"] }), ["Capabilities (restricted)"]],
    ["no capabilities field", (pod) => delete appContext(pod).capabilities, ["Capabilities (restricted)"]],
    ["a hostPath volume", (pod) => pod.spec.volumes?.push({ name: "host", hostPath: { path: "/var/run" } }), ["HostPath Volumes", "Volume Types"]],
    ["a host port", (pod) => (app(pod).ports = [{ name: "http", containerPort: 8080, hostPort: 8080 }]), ["Host Ports"]],
    ["hostPort 0", (pod) => (app(pod).ports = [{ name: "http", containerPort: 8080, hostPort: 0 }]), []],
    ["a probe on another host", (pod) => (app(pod).readinessProbe = { httpGet: { path: "/", port: 80, host: "10.0.0.1" } }), ["Host Probes / Lifecycle Hooks"]],
    ["a tcpSocket startup probe on another host", (pod) => (app(pod).startupProbe = { tcpSocket: { port: 80, host: "metadata.internal" } }), ["Host Probes / Lifecycle Hooks"]],
    ["a preStop hook on another host", (pod) => (app(pod).lifecycle = { preStop: { httpGet: { path: "/", port: 80, host: "10.0.0.1" } } }), ["Host Probes / Lifecycle Hooks"]],
    ["an empty probe host", (pod) => (app(pod).livenessProbe = { httpGet: { path: "/", port: 80, host: "" } }), []],
    ["AppArmor Unconfined", (pod) => (podContext(pod).appArmorProfile = { type: "Unconfined" }), ["AppArmor"]],
    ["AppArmor Unconfined in a container", (pod) => (appContext(pod).appArmorProfile = { type: "Unconfined" }), ["AppArmor"]],
    ["the AppArmor annotation unconfined", (pod) => (pod.metadata = { annotations: { "container.apparmor.security.beta.kubernetes.io/app": "unconfined" } }), ["AppArmor"]],
    ["a Localhost AppArmor profile", (pod) => (appContext(pod).appArmorProfile = { type: "Localhost", localhostProfile: "k8s-app" }), []],
    ["the SELinux type spc_t", (pod) => (podContext(pod).seLinuxOptions = { type: "spc_t" }), ["SELinux"]],
    ["an SELinux user", (pod) => (appContext(pod).seLinuxOptions = { user: "system_u" }), ["SELinux"]],
    ["an SELinux role", (pod) => (appContext(pod).seLinuxOptions = { role: "system_r" }), ["SELinux"]],
    ["the SELinux type container_init_t and a level", (pod) => (podContext(pod).seLinuxOptions = { type: "container_init_t", level: "s0:c123,c456" }), []],
    ["an unmasked /proc", (pod) => (appContext(pod).procMount = "Unmasked"), ["/proc Mount Type"]],
    ["seccomp Unconfined in a container", (pod) => (appContext(pod).seccompProfile = { type: "Unconfined" }), ["Seccomp", "Seccomp (restricted)"]],
    ["seccomp Unconfined at the pod", (pod) => (podContext(pod).seccompProfile = { type: "Unconfined" }), ["Seccomp", "Seccomp (restricted)"]],
    ["no seccomp profile at all", (pod) => delete podContext(pod).seccompProfile, ["Seccomp (restricted)"]],
    ["seccomp set in every container instead of the pod", (pod) => ((appContext(pod).seccompProfile = { type: "Localhost", localhostProfile: "p.json" }), delete podContext(pod).seccompProfile), []],
    ["an unsafe sysctl", (pod) => (podContext(pod).sysctls = [{ name: "kernel.msgmax", value: "65536" }]), ["Sysctls"]],
    ["a safe sysctl", (pod) => (podContext(pod).sysctls = [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }]), []],
    ["an nfs volume in the pod (a claim bound to NFS is fine)", (pod) => pod.spec.volumes?.push({ name: "nfs", nfs: { server: "nfs.example", path: "/export" } }), ["Volume Types"]],
    ["a gitRepo volume", (pod) => pod.spec.volumes?.push({ name: "repo", gitRepo: { repository: "https://example.com/r.git" } }), ["Volume Types"]],
    ["the allowed volume types", (pod) => pod.spec.volumes?.push({ name: "tmp", emptyDir: { sizeLimit: "1Gi" } }, { name: "config", configMap: { name: "c" } }, { name: "token", projected: { sources: [] } }, { name: "key", secret: { secretName: "k" } }), []],
    ["allowPrivilegeEscalation: true", (pod) => (appContext(pod).allowPrivilegeEscalation = true), ["Privilege Escalation"]],
    ["allowPrivilegeEscalation unset", (pod) => delete appContext(pod).allowPrivilegeEscalation, ["Privilege Escalation"]],
    ["runAsNonRoot: false at the pod", (pod) => (podContext(pod).runAsNonRoot = false), ["Running as Non-root"]],
    ["runAsNonRoot: false in a container", (pod) => (appContext(pod).runAsNonRoot = false), ["Running as Non-root"]],
    ["runAsNonRoot nowhere", (pod) => delete podContext(pod).runAsNonRoot, ["Running as Non-root"]],
    ["runAsNonRoot in every container instead of the pod", (pod) => ((appContext(pod).runAsNonRoot = true), delete podContext(pod).runAsNonRoot), []],
    ["runAsUser 0 at the pod", (pod) => (podContext(pod).runAsUser = 0), ["Running as Non-root user"]],
    ["runAsUser 0 in a container", (pod) => (appContext(pod).runAsUser = 0), ["Running as Non-root user"]],
    ["runAsUser 10001", (pod) => (podContext(pod).runAsUser = 10001), []],
    [
      "a Windows pod without the Linux-only settings",
      (pod) => {
        pod.spec.os = { name: "windows" };
        delete podContext(pod).seccompProfile;
        delete appContext(pod).allowPrivilegeEscalation;
        delete appContext(pod).capabilities;
      },
      [],
    ],
  ];

  for (const [name, breakIt, expected] of cases) {
    test(`${name}: ${expected.length > 0 ? expected.join(", ") : "allowed"}`, () => {
      const pod = compliant();
      breakIt(pod);
      const violations = restrictedViolations(pod);
      assert.deepEqual([...new Set(violations.map((violation) => violation.control))].sort(), [...expected].sort(), describeViolations(violations));
    });
  }

  test("the cases break every control of the profile", () => {
    const broken = new Set(cases.flatMap(([, , expected]) => expected));
    assert.deepEqual(restrictedControls.filter((control) => !broken.has(control)), []);
  });

  test("a violation names the field, with the container, and the value found", () => {
    const pod = compliant();
    appContext(pod).allowPrivilegeEscalation = true;
    pod.spec.volumes?.push({ name: "host", hostPath: { path: "/" } });
    assert.deepEqual(restrictedViolations(pod), [
      { control: "HostPath Volumes", field: 'spec.volumes["host"].hostPath', value: { path: "/" } },
      { control: "Volume Types", field: 'spec.volumes["host"]', value: ["hostPath"] },
      { control: "Privilege Escalation", field: 'spec.containers["app"].securityContext.allowPrivilegeEscalation', value: true },
    ]);
  });
});
