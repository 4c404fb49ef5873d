import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IProbe } from "kubernetes-models/v1/Probe";
import type { ISecurityContext } from "kubernetes-models/v1/SecurityContext";

/**
 * The "restricted" Pod Security Standard, control by control, as the Kubernetes documentation writes
 * it: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the Baseline controls,
 * which Restricted includes, then Restricted's own; the page as of Kubernetes v1.34, which added
 * "Host Probes / Lifecycle Hooks"). Each control lists its restricted fields and allowed values; a
 * pod breaks a control when any listed field of the pod or of any of its containers (containers,
 * initContainers, ephemeralContainers) holds a value outside them. The Linux-only controls
 * (Privilege Escalation, Seccomp and Capabilities of Restricted) do not apply when spec.os.name is
 * windows, as the page's "OS-specific policy controls" says.
 *
 * Used on pod templates (Deployments, Jobs) before they reach a cluster, so a violation fails a test
 * rather than a rollout in a namespace labelled pod-security.kubernetes.io/enforce: restricted.
 */

/** The Baseline profile's controls, which Restricted includes. */
export const baselineControls = [
  "HostProcess",
  "Host Namespaces",
  "Privileged Containers",
  "Capabilities",
  "HostPath Volumes",
  "Host Ports",
  "Host Probes / Lifecycle Hooks",
  "AppArmor",
  "SELinux",
  "/proc Mount Type",
  "Seccomp",
  "Sysctls",
] as const;

/** Every control of the Restricted profile: Baseline's, then its own. */
export const restrictedControls = [...baselineControls, "Volume Types", "Privilege Escalation", "Running as Non-root", "Running as Non-root user", "Seccomp (restricted)", "Capabilities (restricted)"] as const;

export type RestrictedControl = (typeof restrictedControls)[number];

export interface PodSecurityViolation {
  control: RestrictedControl;
  /** The restricted field, with the container's name: spec.containers["server"].securityContext.privileged. */
  field: string;
  /** The value found there (undefined when the control requires a value that is missing). */
  value: unknown;
}

/** What the check reads: a pod's metadata (annotations) and spec, as a pod or a pod template has them. */
export interface PodLike {
  metadata?: { annotations?: Record<string, string> };
  spec: IPodSpec;
}

/** Baseline "Capabilities": what may be added. */
const baselineCapabilities = new Set(["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]);
/** Restricted "Capabilities": the only one that may be added back after dropping ALL. */
const restrictedCapabilities = new Set(["NET_BIND_SERVICE"]);
const seLinuxTypes = new Set(["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]);
const safeSysctls = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);
/** Restricted "Volume Types": every volume must set one of these. */
const allowedVolumeSources = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
const allowedProfileTypes = new Set(["RuntimeDefault", "Localhost"]);
const appArmorAnnotation = "container.apparmor.security.beta.kubernetes.io/";

interface NamedContainer {
  /** spec.containers["name"] */
  path: string;
  container: IContainer;
  securityContext: ISecurityContext;
}

function containersOf(spec: IPodSpec): NamedContainer[] {
  const lists = [
    ["containers", spec.containers],
    ["initContainers", spec.initContainers],
    ["ephemeralContainers", spec.ephemeralContainers],
  ] as const;
  return lists.flatMap(([list, entries]) =>
    (entries ?? []).map((container) => ({ path: `spec.${list}[${JSON.stringify(container.name)}]`, container, securityContext: container.securityContext ?? {} })),
  );
}

/** Every way the pod breaks the restricted profile; empty when it meets it. */
export function restrictedViolations(pod: PodLike): PodSecurityViolation[] {
  const violations: PodSecurityViolation[] = [];
  const report = (control: RestrictedControl, field: string, value: unknown) => violations.push({ control, field, value });
  const { spec } = pod;
  const podContext = spec.securityContext ?? {};
  const containers = containersOf(spec);
  const linux = spec.os?.name !== "windows";

  // HostProcess: undefined or false, at the pod and in every container.
  if (podContext.windowsOptions?.hostProcess === true) report("HostProcess", "spec.securityContext.windowsOptions.hostProcess", true);
  for (const { path, securityContext } of containers) {
    if (securityContext.windowsOptions?.hostProcess === true) report("HostProcess", `${path}.securityContext.windowsOptions.hostProcess`, true);
  }

  // Host Namespaces: hostNetwork, hostPID, hostIPC undefined or false.
  for (const field of ["hostNetwork", "hostPID", "hostIPC"] as const) {
    if (spec[field] === true) report("Host Namespaces", `spec.${field}`, true);
  }

  for (const { path, container, securityContext } of containers) {
    // Privileged Containers: undefined or false.
    if (securityContext.privileged === true) report("Privileged Containers", `${path}.securityContext.privileged`, true);

    // Capabilities (Baseline): add only from the default set.
    const added = securityContext.capabilities?.add ?? [];
    const beyondBaseline = added.filter((capability) => !baselineCapabilities.has(capability));
    if (beyondBaseline.length > 0) report("Capabilities", `${path}.securityContext.capabilities.add`, beyondBaseline);

    // Host Ports: undefined or 0.
    for (const port of container.ports ?? []) {
      if (port.hostPort !== undefined && port.hostPort !== 0) report("Host Ports", `${path}.ports[${JSON.stringify(port.name ?? port.containerPort)}].hostPort`, port.hostPort);
    }

    // Host Probes / Lifecycle Hooks: the host of httpGet and tcpSocket handlers undefined or "".
    const handlers: Array<[string, Pick<IProbe, "httpGet" | "tcpSocket"> | undefined]> = [
      ["livenessProbe", container.livenessProbe],
      ["readinessProbe", container.readinessProbe],
      ["startupProbe", container.startupProbe],
      ["lifecycle.postStart", container.lifecycle?.postStart],
      ["lifecycle.preStop", container.lifecycle?.preStop],
    ];
    for (const [name, handler] of handlers) {
      for (const kind of ["httpGet", "tcpSocket"] as const) {
        const host = handler?.[kind]?.host;
        if (host !== undefined && host !== "") report("Host Probes / Lifecycle Hooks", `${path}.${name}.${kind}.host`, host);
      }
    }

    // /proc Mount Type: undefined or Default.
    if (securityContext.procMount !== undefined && securityContext.procMount !== "Default") report("/proc Mount Type", `${path}.securityContext.procMount`, securityContext.procMount);
  }

  // AppArmor: the profile type undefined, RuntimeDefault or Localhost; the legacy annotation
  // undefined, runtime/default or localhost/<profile>.
  const appArmorContexts: Array<[string, ISecurityContext["appArmorProfile"]]> = [
    ["spec.securityContext", podContext.appArmorProfile],
    ...containers.map(({ path, securityContext }): [string, ISecurityContext["appArmorProfile"]] => [`${path}.securityContext`, securityContext.appArmorProfile]),
  ];
  for (const [where, profile] of appArmorContexts) {
    if (profile !== undefined && !allowedProfileTypes.has(profile.type)) report("AppArmor", `${where}.appArmorProfile.type`, profile.type);
  }
  for (const [key, value] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (key.startsWith(appArmorAnnotation) && value !== "runtime/default" && !value.startsWith("localhost/")) report("AppArmor", `metadata.annotations[${JSON.stringify(key)}]`, value);
  }

  // SELinux: type undefined, "" or one of the container types; user and role undefined or "".
  const seLinuxContexts: Array<[string, ISecurityContext["seLinuxOptions"]]> = [
    ["spec.securityContext", podContext.seLinuxOptions],
    ...containers.map(({ path, securityContext }): [string, ISecurityContext["seLinuxOptions"]] => [`${path}.securityContext`, securityContext.seLinuxOptions]),
  ];
  for (const [where, options] of seLinuxContexts) {
    if (options?.type !== undefined && !seLinuxTypes.has(options.type)) report("SELinux", `${where}.seLinuxOptions.type`, options.type);
    for (const field of ["user", "role"] as const) {
      const value = options?.[field];
      if (value !== undefined && value !== "") report("SELinux", `${where}.seLinuxOptions.${field}`, value);
    }
  }

  // Seccomp (Baseline): never Unconfined, at the pod or in a container.
  const seccompContexts: Array<[string, ISecurityContext["seccompProfile"]]> = [
    ["spec.securityContext", podContext.seccompProfile],
    ...containers.map(({ path, securityContext }): [string, ISecurityContext["seccompProfile"]] => [`${path}.securityContext`, securityContext.seccompProfile]),
  ];
  for (const [where, profile] of seccompContexts) {
    if (profile?.type === "Unconfined") report("Seccomp", `${where}.seccompProfile.type`, profile.type);
  }

  // Sysctls: only the safe, namespaced ones.
  for (const sysctl of podContext.sysctls ?? []) {
    if (!safeSysctls.has(sysctl.name)) report("Sysctls", `spec.securityContext.sysctls[${JSON.stringify(sysctl.name)}].name`, sysctl.name);
  }

  for (const volume of spec.volumes ?? []) {
    const where = `spec.volumes[${JSON.stringify(volume.name)}]`;
    const record = volume as unknown as Record<string, unknown>;
    // HostPath Volumes: undefined.
    if (record.hostPath !== undefined && record.hostPath !== null) report("HostPath Volumes", `${where}.hostPath`, record.hostPath);
    // Volume Types: each volume sets one of the allowed sources.
    if (!allowedVolumeSources.some((source) => record[source] !== undefined && record[source] !== null)) {
      report("Volume Types", where, Object.keys(record).filter((key) => key !== "name"));
    }
  }

  // Running as Non-root: true at the pod (then containers may leave it unset), else true in every
  // container; false anywhere breaks it.
  if (podContext.runAsNonRoot === false) report("Running as Non-root", "spec.securityContext.runAsNonRoot", false);
  for (const { path, securityContext } of containers) {
    const own = securityContext.runAsNonRoot;
    if (own === false || (own === undefined && podContext.runAsNonRoot !== true)) report("Running as Non-root", `${path}.securityContext.runAsNonRoot`, own);
  }

  // Running as Non-root user: runAsUser any value but 0.
  if (podContext.runAsUser === 0) report("Running as Non-root user", "spec.securityContext.runAsUser", 0);
  for (const { path, securityContext } of containers) {
    if (securityContext.runAsUser === 0) report("Running as Non-root user", `${path}.securityContext.runAsUser`, 0);
  }

  if (linux) {
    for (const { path, securityContext } of containers) {
      // Privilege Escalation: false, explicitly.
      if (securityContext.allowPrivilegeEscalation !== false) report("Privilege Escalation", `${path}.securityContext.allowPrivilegeEscalation`, securityContext.allowPrivilegeEscalation);

      // Capabilities (Restricted): drop includes ALL, add at most NET_BIND_SERVICE.
      const drop = securityContext.capabilities?.drop ?? [];
      if (!drop.includes("ALL")) report("Capabilities (restricted)", `${path}.securityContext.capabilities.drop`, securityContext.capabilities?.drop);
      const add = (securityContext.capabilities?.add ?? []).filter((capability) => !restrictedCapabilities.has(capability));
      if (add.length > 0) report("Capabilities (restricted)", `${path}.securityContext.capabilities.add`, add);
    }

    // Seccomp (Restricted): RuntimeDefault or Localhost at the pod, or else in every container; a
    // container that sets it sets an allowed type.
    const podProfile = podContext.seccompProfile?.type;
    if (podProfile !== undefined && !allowedProfileTypes.has(podProfile)) report("Seccomp (restricted)", "spec.securityContext.seccompProfile.type", podProfile);
    for (const { path, securityContext } of containers) {
      const own = securityContext.seccompProfile?.type;
      if (own !== undefined ? !allowedProfileTypes.has(own) : podProfile === undefined) report("Seccomp (restricted)", `${path}.securityContext.seccompProfile.type`, own);
    }
  }
  return violations;
}

/** One line per violation, for assertion messages. */
export function describeViolations(violations: readonly PodSecurityViolation[]): string {
  return violations.map((violation) => `${violation.control}: ${violation.field} = ${JSON.stringify(violation.value)}`).join("\n");
}
