import type { KubernetesConfig } from "../../config/schema.js";
import type { Hyperparameters } from "../../tuning/policy.js";

/**
 * The training Job of one attempt, as a pure function of the attempt and the configuration, so it
 * is tested without a cluster and validated against the official schemas. The name is derived from
 * the run and the attempt number alone: creating it twice is a 409, which the executor adopts, so
 * one attempt never runs as two Jobs.
 */

export const managedBy = "faceops-controller";
export const runLabel = "faceops.io/run";
export const attemptLabel = "faceops.io/attempt";
export const commitLabel = "faceops.io/dataset-commit";
/** Selects every training Job (and its pods) the controller made. */
export const trainerSelector = `app.kubernetes.io/name=faceops,app.kubernetes.io/component=trainer`;

export interface AttemptJobInput {
  runId: string;
  attempt: number;
  /** When the run was created: tells this run's Job from one a wiped store left with the same name. */
  runCreatedAt: string;
  commit: string | null;
  hyperparameters: Hyperparameters;
  reason: string;
  namespace: string;
  kubernetes: KubernetesConfig;
  /** Seconds after which Kubernetes stops the Job (the controller's attempt timeout). */
  activeDeadlineSeconds: number;
}

/** faceops-<run>-a<n>: DNS-1123, at most 63 characters (runs are numbered, so it always fits). */
export function jobName(runId: string, attempt: number): string {
  if (!/^[0-9]{1,9}$/.test(runId)) throw new Error(`"${runId}" is not a run id`);
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > 99_999) throw new Error(`"${attempt}" is not an attempt number`);
  return `faceops-${runId}-a${attempt}`;
}

export function jobFor(input: AttemptJobInput): Record<string, unknown> {
  const { kubernetes } = input;
  const name = jobName(input.runId, input.attempt);
  const labels: Record<string, string> = {
    "app.kubernetes.io/name": "faceops",
    "app.kubernetes.io/component": "trainer",
    "app.kubernetes.io/part-of": "faceops",
    "app.kubernetes.io/managed-by": managedBy,
    [runLabel]: input.runId,
    [attemptLabel]: String(input.attempt),
    ...(input.commit ? { [commitLabel]: input.commit } : {}),
  };
  const limits: Record<string, string> = { memory: kubernetes.trainerMemory, "ephemeral-storage": kubernetes.trainerEphemeralStorage };
  if (kubernetes.gpus > 0) limits["nvidia.com/gpu"] = String(kubernetes.gpus);
  const gitVolume = kubernetes.gitSecret ? "git-credentials" : null;
  const gitEnv = kubernetes.gitSecret
    ? [
        { name: "FACEOPS_GIT_USERNAME", valueFrom: { secretKeyRef: { name: kubernetes.gitSecret, key: "username", optional: true } } },
        { name: "FACEOPS_GIT_PASSWORD", valueFrom: { secretKeyRef: { name: kubernetes.gitSecret, key: "password", optional: true } } },
      ]
    : [];
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: input.namespace,
      labels,
      annotations: {
        "faceops.io/run-created-at": input.runCreatedAt,
        "faceops.io/hyperparameters": JSON.stringify(input.hyperparameters),
        "faceops.io/reason": input.reason.slice(0, 1000),
      },
    },
    spec: {
      backoffLimit: kubernetes.backoffLimit,
      activeDeadlineSeconds: Math.max(1, Math.round(input.activeDeadlineSeconds)),
      ttlSecondsAfterFinished: Math.round(kubernetes.ttlAfterFinished / 1000),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          // An identity of its own, bound to no Role, and no token: training talks to no API server.
          serviceAccountName: kubernetes.trainerServiceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
          ...(Object.keys(kubernetes.nodeSelector).length > 0 ? { nodeSelector: kubernetes.nodeSelector } : {}),
          ...(kubernetes.tolerations.length > 0 ? { tolerations: kubernetes.tolerations } : {}),
          ...(kubernetes.priorityClassName ? { priorityClassName: kubernetes.priorityClassName } : {}),
          containers: [
            {
              name: "attempt",
              image: kubernetes.trainerImage,
              command: ["faceops"],
              args: ["--log-format", "json", "attempt", "--store", kubernetes.storeMountPath, "--run", input.runId, "--attempt", String(input.attempt)],
              env: [
                { name: "HOME", value: "/tmp" },
                // One face-path worker per CPU the pod asks for (rounded up). The request, not the
                // limit: a training pod has no CPU limit, and limits.cpu would then be the node's cores.
                { name: "FACEOPS_ENGINE_WORKERS", valueFrom: { resourceFieldRef: { resource: "requests.cpu", divisor: "1" } } },
                ...gitEnv,
                ...(gitVolume ? [{ name: "FACEOPS_GIT_SSH_KEY_FILE", value: "/etc/faceops/git/ssh-privatekey" }] : []),
              ],
              resources: { requests: { cpu: kubernetes.trainerCpu, memory: kubernetes.trainerMemory, "ephemeral-storage": kubernetes.trainerEphemeralStorage }, limits },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              volumeMounts: [
                { name: "store", mountPath: kubernetes.storeMountPath },
                { name: "tmp", mountPath: "/tmp" },
                ...(gitVolume ? [{ name: gitVolume, mountPath: "/etc/faceops/git", readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            { name: "store", persistentVolumeClaim: { claimName: kubernetes.storeClaim } },
            // Bounded, so a runaway /tmp evicts this pod rather than filling the node's disk.
            { name: "tmp", emptyDir: { sizeLimit: kubernetes.trainerTmpSize } },
            ...(gitVolume ? [{ name: gitVolume, secret: { secretName: kubernetes.gitSecret, optional: true, defaultMode: 0o400 } }] : []),
          ],
        },
      },
    },
  };
}
