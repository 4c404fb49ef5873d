import type express from "express";
import type { Registry } from "prom-client";
import { Controller } from "../../controller/controller.js";
import type { ControllerSettings } from "../../controller/decide.js";
import { controllerRouter } from "../../controller/http.js";
import { DatasetWatch } from "../../dataset/watch.js";
import { createControllerMetrics } from "../../metrics/controller-metrics.js";
import type { ModelDeployer, TrainingExecutor } from "../../platform/types.js";
import { RecordStore } from "../../records/record-store.js";
import { gitCredentials, readSecret, type CommandContext } from "../context.js";

/**
 * The controller of `faceops up`, built in one place for either platform: the dataset watch on the
 * configured repository, the platform's executor and deployer, the controller's metrics on the
 * server's registry, and the HTTP API that wakes it (runs, run requests, webhooks). The two `up`
 * variants differ only in the ControllerPlatform they pass (wiring/platforms.ts) and in the server
 * the router is mounted on.
 */

/** Where attempts run and how a version reaches service: the part of the controller that depends on the platform. */
export interface ControllerPlatform {
  /** The executor; `kick` wakes the loop (naming why) when an attempt changes, so it looks at once instead of at the next poll. */
  executor(kick: (trigger: string) => void): TrainingExecutor;
  deployer: ModelDeployer;
}

export interface BuiltController {
  controller: Controller;
  /** The controller's HTTP API, to mount on the process' server. */
  router: express.Router;
}

/** The controller's settings, all from the configuration. */
export function controllerSettings(context: CommandContext): ControllerSettings {
  const { controller, gate, train } = context.loaded.config;
  return {
    policy: { maxAttempts: controller.maxAttempts, maxCrashedAttempts: controller.maxCrashedAttempts, minAccuracy: gate.minAccuracy },
    gate: { minAccuracy: gate.minAccuracy, maxRegression: gate.maxRegression, minStrangerRejection: gate.minStrangerRejection, maxKnownRejection: gate.maxKnownRejection, maxPersonRegression: gate.maxPersonRegression },
    initialHyperparameters: { epochs: train.epochs, learningRate: train.learningRate, dropout: train.dropout },
    onNewCommit: controller.onNewCommit,
    parallelAttempts: controller.parallelAttempts,
    attemptTimeoutMs: controller.attemptTimeout,
    rolloutDeadlineMs: controller.rolloutDeadline,
    startGraceMs: 60_000,
    maxExecutions: 3,
  };
}

/** A controller on `platform`, its metrics on `registry`; the API's secrets are read now, so a missing secret file stops `up` before it listens. */
export function buildController(context: CommandContext, platform: ControllerPlatform, registry: Registry): BuiltController {
  const { config } = context.loaded;
  const { log, store } = context;
  // The executor is built before the controller it wakes; nothing runs on it before the controller starts, so no kick is lost.
  let controller: Controller | null = null;
  const executor = platform.executor((trigger) => controller?.kick(trigger));
  const watch = new DatasetWatch({
    location: config.source.repo,
    branch: config.source.branch,
    dataset: config.dataset,
    store,
    log,
    env: context.env,
    credentials: gitCredentials(context),
  });
  const records = new RecordStore(store, { runConfig: config });
  const built = new Controller({
    store: records,
    source: watch,
    executor,
    deployer: platform.deployer,
    settings: controllerSettings(context),
    metrics: createControllerMetrics(registry),
    log,
    pollIntervalMs: config.controller.pollInterval,
  });
  controller = built;
  const router = controllerRouter({
    store: records,
    branch: config.source.branch,
    apiToken: readSecret(context, "FACEOPS_API_TOKEN", config.controller.apiTokenFile, "API token"),
    webhookSecret: readSecret(context, "FACEOPS_WEBHOOK_SECRET", config.controller.webhookSecretFile, "webhook secret"),
    kick: (trigger) => built.kick(trigger),
    watching: () => built.watching,
    resolveCommit: (revision) => built.resolveCommit(revision),
    log,
  });
  return { controller: built, router };
}
