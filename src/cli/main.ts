#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "../config/load.js";
import { SourceError } from "../dataset/source.js";
import { createContext, type GlobalOptions } from "./context.js";
import { printable, printableLines } from "./printable.js";
import { renderConfig } from "./commands/config-print.js";
import { datasetCheckCommand, type DatasetCheckOptions } from "./commands/dataset-check.js";
import { cacheGcCommand, cacheStatsCommand } from "./commands/cache.js";
import { trainCommand, trainOverrides, type TrainOptions } from "./commands/train.js";
import { predictCommand, type PredictOptions } from "./commands/predict.js";
import { serveCommand, type ServeOptions } from "./commands/serve.js";
import { BundleError } from "../model/bundle.js";
import { defaultMaxFaces, defaultMinFaceSize, maxFacesLimit } from "../model/predictor.js";
import { ControllerBusyError } from "../controller/controller.js";
import { upCommand } from "./commands/up.js";
import { attemptCommand, type AttemptOptions } from "./commands/attempt.js";
import { statusCommand, type StatusOptions } from "./commands/status.js";
import { inboxDecisionCommand, inboxListCommand, type InboxDecisionOptions, type InboxListOptions } from "./commands/inbox.js";
import { ReviewError } from "../review/decisions.js";
import { InboxError } from "../review/inbox.js";

/**
 * The `faceops` binary: every process of the system (controller, training attempt, server) is this
 * program with a different command. Only wiring lives here.
 */

const exitError = 1;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function buildProgram(): Command {
  const program = new Command("faceops")
    .description("Retrain, gate and serve a face classifier whenever photos are pushed to a git repository.")
    .option("-c, --config <file>", "faceops.yaml to read (default: ./faceops.yaml when present, or $FACEOPS_CONFIG)")
    .option("--store <dir>", "the store folder (config key: store)")
    .option("--set <key=value>", "set any config key, e.g. --set dataset.testFraction=0.25 (repeatable)", collect)
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]))
    .addOption(new Option("--log-format <format>", "log format").choices(["auto", "json", "pretty"]))
    .showHelpAfterError()
    // Commander quotes the arguments it refuses: they are escaped like every other text output.
    .configureOutput({ writeErr: (text) => process.stderr.write(printableLines(text)) })
    .exitOverride();

  const config = program.command("config").description("inspect the configuration");
  config
    .command("print")
    .description("print the effective configuration (defaults < faceops.yaml < FACEOPS_* env < flags)")
    .option("--json", "print JSON instead of annotated YAML")
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = await createContext(command.optsWithGlobals<GlobalOptions>());
      process.stdout.write(renderConfig(context.loaded, options.json ? "json" : "yaml"));
    });

  const dataset = program.command("dataset").description("work with face datasets");
  dataset
    .command("check")
    .description("validate a dataset (a git repository, a git URL or a plain folder of <person>/<photo>) and print its manifest")
    .argument("<path|git-url>", "the dataset to check")
    .option("--commit <sha>", "check this commit instead of HEAD (git repositories only)")
    .option("--json", "print the manifest as one JSON document: fingerprint, labels, images, rejected, warnings, faces")
    .option("--no-faces", "do not look for the faces in the photos (no face counts, no face warnings)")
    .action(async (location: string, options: DatasetCheckOptions, command: Command) => {
      const context = await createContext(command.optsWithGlobals<GlobalOptions>());
      process.exitCode = await datasetCheckCommand(location, options, context);
    });

  program
    .command("train")
    .description("train a face classifier on a dataset and write a model bundle")
    .argument("<path|git-url>", "the dataset to train on")
    .requiredOption("--out <bundle-dir>", "where to write the model bundle (replaced atomically)")
    .option("--commit <sha>", "train on this commit instead of HEAD (git repositories only)")
    .option("--backbone <name>", "vgg16, face-embedding or auto (config key model.backbone)")
    .option("--epochs <n>", "epochs of head training (config key train.epochs)")
    .option("--lr <rate>", "Adam's learning rate (config key train.learningRate)")
    .option("--json", "print the bundle's metadata as JSON instead of a summary")
    .action(async (location: string, options: TrainOptions, command: Command) => {
      const context = await createContext(command.optsWithGlobals<GlobalOptions>(), trainOverrides(options));
      process.exitCode = await trainCommand(location, options, context);
    });

  program
    .command("predict")
    .description("name the people in photos with a trained model bundle or a running service")
    .argument("<image...>", "photos to classify")
    .option("--model <bundle-dir>", "a model bundle written by faceops train")
    .option("--url <service-url>", "ask a running faceops service instead (e.g. http://localhost:8080)")
    .option("--topk <k>", "how many labels to show per face", "3")
    .option("--max-faces <n>", `answer at most this many faces per photo, the largest first (1-${maxFacesLimit}; default ${defaultMaxFaces})`)
    .option("--min-face-size <pixels>", `list faces smaller than this as too small instead of naming them (default ${defaultMinFaceSize})`)
    .option("--json", "print JSON")
    .action(async (images: string[], options: PredictOptions, command: Command) => {
      process.exitCode = await predictCommand(images, options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });

  program
    .command("serve")
    .description("serve a model over HTTP: --model <bundle-dir>, or follow the store's current version (--store)")
    .option("--model <bundle-dir>", "serve this bundle (otherwise follow <store>/models/current.json)")
    .option("--port <port>", "port to listen on (config key serve.port)")
    .action(async (options: ServeOptions, command: Command) => {
      const overrides = options.port !== undefined ? [{ key: "serve.port", value: options.port, origin: "--port" }] : [];
      await serveCommand(options, await createContext(command.optsWithGlobals<GlobalOptions>(), overrides));
    });

  program
    .command("up")
    .description("run everything on this machine: watch the repository, train, gate, promote and serve (what npm start runs)")
    .option("--port <port>", "port for the page, predictions, /metrics and the controller API (config key serve.port)")
    .addOption(new Option("--platform <platform>", "local: attempts as child processes and this process serving; kubernetes: attempts as Jobs, rollouts to the inference Deployment").choices(["local", "kubernetes"]).default("local"))
    .action(async (options: { port?: string; platform: "local" | "kubernetes" }, command: Command) => {
      const overrides = options.port !== undefined ? [{ key: "serve.port", value: options.port, origin: "--port" }] : [];
      const context = await createContext(command.optsWithGlobals<GlobalOptions>(), overrides);
      await upCommand(context, options.platform);
    });

  program
    .command("attempt")
    .description("run one training attempt of a controller run (started by the controller, or by a Kubernetes Job)")
    .requiredOption("--run <id>", "the run")
    .requiredOption("--attempt <n>", "the attempt number")
    .action(async (options: AttemptOptions, command: Command) => {
      process.exitCode = await attemptCommand(options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });

  program
    .command("status")
    .description("the model in service, the active run and the last runs")
    .option("--json", "print JSON")
    .option("--limit <n>", "how many runs to show", "10")
    .action(async (options: StatusOptions, command: Command) => {
      await statusCommand(options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });

  const inbox = program.command("inbox").description("review the faces the service could not name (serve.capture)");
  inbox
    .command("list")
    .description("the faces waiting for review, in groups of the same face")
    .option("--json", 'print JSON: {"groups": [{"id", "faces": [{"id", "capturedAt", "modelVersion", "answer", "distance"}], "nearest"}]}')
    .action(async (options: InboxListOptions, command: Command) => {
      await inboxListCommand(options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });
  for (const [action, description, takes] of [
    ["assign", "these groups or faces are <name>: committed to the face repository by the controller", "<group-or-face-id...>"],
    ["not", "these faces are not <name> (hard negatives, kept under _not/)", "<face-id...>"],
    ["discard", "remove these groups or faces from the inbox", "<group-or-face-id...>"],
  ] as const) {
    const sub = inbox.command(action).description(description).argument(takes, "ids from `faceops inbox list`").option("--json", "print the decision as JSON");
    if (action !== "discard") {
      sub.requiredOption("--person <name>", "the person, as their folder in the face repository").option("--reviewer <identity>", 'who decides, "Name <email>": the commit\'s author');
    }
    sub.action(async (ids: string[], options: InboxDecisionOptions, command: Command) => {
      await inboxDecisionCommand(action, ids, options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });
  }

  const cache = program.command("cache").description("the feature cache in the store");
  cache
    .command("stats")
    .description("how many photos and vectors the feature cache holds, and how many manifests reference")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      await cacheStatsCommand(options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });
  cache
    .command("gc")
    .description("delete the features of photos that no recorded dataset manifest references")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      await cacheGcCommand(options, await createContext(command.optsWithGlobals<GlobalOptions>()));
    });

  return program;
}

/**
 * Errors the user can fix get one clear line; anything else also gets its stack for a bug report.
 * Messages quote paths and names, so they are made printable like every other text output.
 */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : exitError;
  // A configuration error lists one problem per line; the other errors are one sentence, and a line break in them came from a name.
  if (error instanceof ConfigError) {
    process.stderr.write(`faceops: ${printableLines(error.message)}\n`);
    return exitError;
  }
  if (error instanceof SourceError || error instanceof BundleError || error instanceof ControllerBusyError || error instanceof ReviewError || error instanceof InboxError) {
    process.stderr.write(`faceops: ${printable(error.message)}\n`);
    return exitError;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`faceops: unexpected error: ${printableLines(detail)}\n`);
  return exitError;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
