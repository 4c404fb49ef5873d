import { Registry } from "prom-client";
import { Controller } from "../../controller/controller.js";
import { DatasetWatch } from "../../dataset/watch.js";
import type { ControllerSettings } from "../../controller/decide.js";
import { createControllerMetrics, type ControllerMetrics } from "../../metrics/controller-metrics.js";
import type { ModelDeployer } from "../../platform/types.js";
import { LocalExecutor } from "../../platform/local/executor.js";
import { RecordStore } from "../../records/record-store.js";
import { gitCredentials, type CommandContext } from "../context.js";

/** The controller's settings, all from the configuration. */
export function controllerSettings(context: CommandContext): ControllerSettings {
  const { controller, gate, train } = context.loaded.config;
  return {
    policy: { maxAttempts: controller.maxAttempts, maxCrashedAttempts: controller.maxCrashedAttempts, minAccuracy: gate.minAccuracy },
    gate: { minAccuracy: gate.minAccuracy, maxRegression: gate.maxRegression },
    initialHyperparameters: { epochs: train.epochs, learningRate: train.learningRate, dropout: train.dropout },
    onNewCommit: controller.onNewCommit,
    parallelAttempts: controller.parallelAttempts,
    attemptTimeoutMs: controller.attemptTimeout,
    rolloutDeadlineMs: controller.rolloutDeadline,
    startGraceMs: 60_000,
    maxExecutions: 3,
  };
}

/** This very program, to start attempts with: node, its flags (e.g. a TypeScript loader) and the main script. */
export function faceopsCommand(context: CommandContext): string[] {
  const script = process.argv[1];
  if (!script) throw new Error("cannot tell which script is running, to start attempts with it");
  return [process.execPath, ...process.execArgv, script, ...context.globalArgs];
}

/** A controller with the local executor, on the given deployer. */
export function localController(context: CommandContext, deployer: ModelDeployer, registry = new Registry()): { controller: Controller; metrics: ControllerMetrics } {
  const { config } = context.loaded;
  const metrics = createControllerMetrics(registry);
  let controller: Controller | null = null;
  const executor = new LocalExecutor({
    store: context.store,
    command: faceopsCommand(context),
    env: context.env,
    log: context.log,
    onExit: () => controller?.kick("attempt-exit"),
  });
  const watch = new DatasetWatch({
    location: config.source.repo,
    branch: config.source.branch,
    dataset: config.dataset,
    store: context.store,
    log: context.log,
    env: context.env,
    credentials: gitCredentials(context),
  });
  controller = new Controller({
    store: new RecordStore(context.store, { runConfig: config }),
    source: watch,
    executor,
    deployer,
    settings: controllerSettings(context),
    metrics,
    log: context.log,
    pollIntervalMs: config.controller.pollInterval,
  });
  return { controller, metrics };
}
