#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "../config/load.js";
import { SourceError } from "../dataset/source.js";
import { createContext, type GlobalOptions } from "./context.js";
import { renderConfig } from "./commands/config-print.js";
import { datasetCheckCommand, type DatasetCheckOptions } from "./commands/dataset-check.js";

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
    .option("--json", "print the manifest as one JSON document: fingerprint, labels, images, rejected")
    .action(async (location: string, options: DatasetCheckOptions, command: Command) => {
      const context = await createContext(command.optsWithGlobals<GlobalOptions>());
      process.exitCode = await datasetCheckCommand(location, options, context);
    });

  return program;
}

/** Errors the user can fix get one clear line; anything else also gets its stack for a bug report. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : exitError;
  if (error instanceof ConfigError || error instanceof SourceError) {
    process.stderr.write(`faceops: ${error.message}\n`);
    return exitError;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`faceops: unexpected error: ${detail}\n`);
  return exitError;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
