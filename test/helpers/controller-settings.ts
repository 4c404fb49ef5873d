import type { ControllerSettings } from "../../src/controller/decide.js";

/** Controller settings for tests: the defaults of the configuration, with what a test changes. */
export function controllerSettings(changes: Partial<ControllerSettings> = {}): ControllerSettings {
  return {
    policy: { maxAttempts: 4, maxCrashedAttempts: 2, minAccuracy: 0.9 },
    gate: { minAccuracy: 0.9, maxRegression: 0.01, minStrangerRejection: 0.9, maxKnownRejection: 0.05, maxPersonRegression: 0.25 },
    initialHyperparameters: { epochs: 5, learningRate: 0.001, dropout: 0.5 },
    onNewCommit: "queue",
    parallelAttempts: 1,
    attemptTimeoutMs: 600_000,
    rolloutDeadlineMs: 60_000,
    startGraceMs: 30_000,
    maxExecutions: 3,
    ...changes,
  };
}
