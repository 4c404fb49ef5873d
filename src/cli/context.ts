import { readFileSync } from "node:fs";
import { ConfigError, loadConfig, parseSetArgument, type ConfigOverride, type LoadedConfig } from "../config/load.js";
import type { CheckRequest } from "../dataset/check.js";
import type { GitCredentials } from "../dataset/source.js";
import { Inbox } from "../review/inbox.js";
import { createLogger, defaultLogFormat, type Logger } from "../log.js";
import { StoreLayout } from "../store/layout.js";

/**
 * What every command needs, built once from argv, the environment and faceops.yaml. This is the
 * one place (with main.ts) that reads process.env; everything below receives values.
 */

export interface GlobalOptions {
  config?: string;
  store?: string;
  set?: string[];
  logLevel?: string;
  logFormat?: string;
}

export interface CommandContext {
  loaded: LoadedConfig;
  log: Logger;
  store: StoreLayout;
  env: NodeJS.ProcessEnv;
  /** The global options as given, to start child faceops processes with the same configuration. */
  globalArgs: string[];
}

/** The global options again as arguments, for child processes (attempts) of this one. */
export function globalArguments(options: GlobalOptions, configFile: string | null): string[] {
  const args: string[] = [];
  if (configFile) args.push("--config", configFile);
  for (const entry of options.set ?? []) args.push("--set", entry);
  if (options.logLevel) args.push("--log-level", options.logLevel);
  return args;
}

export async function createContext(options: GlobalOptions, extraOverrides: ConfigOverride[] = []): Promise<CommandContext> {
  const env = process.env;
  const overrides: ConfigOverride[] = (options.set ?? []).map(parseSetArgument);
  if (options.store) overrides.push({ key: "store", value: options.store, origin: "--store" });
  if (options.logLevel) overrides.push({ key: "log.level", value: options.logLevel, origin: "--log-level" });
  if (options.logFormat) overrides.push({ key: "log.format", value: options.logFormat, origin: "--log-format" });
  overrides.push(...extraOverrides);
  const loaded = await loadConfig({ file: options.config ?? env.FACEOPS_CONFIG, defaultFile: "faceops.yaml", env, overrides });
  const { level, format } = loaded.config.log;
  const log = createLogger({ level, format: format === "auto" ? defaultLogFormat(process.stderr) : format });
  for (const warning of loaded.warnings) log.warn(warning);
  const store = new StoreLayout(loaded.config.store);
  return { loaded, log, store, env, globalArgs: [...globalArguments(options, loaded.file), "--store", store.root] };
}

/**
 * Git credentials from the environment (FACEOPS_GIT_USERNAME, FACEOPS_GIT_PASSWORD,
 * FACEOPS_GIT_PASSWORD_FILE, FACEOPS_GIT_SSH_KEY_FILE) or the source section of the config.
 * A password file is read here so that the secret travels only in memory.
 */
export function gitCredentials(context: CommandContext): GitCredentials {
  const { source } = context.loaded.config;
  const env = context.env;
  const passwordFile = env.FACEOPS_GIT_PASSWORD_FILE || source.passwordFile;
  let password = env.FACEOPS_GIT_PASSWORD || undefined;
  if (!password && passwordFile) {
    try {
      password = readFileSync(passwordFile, "utf8").trim();
    } catch (error) {
      throw new ConfigError(`cannot read the git password file ${passwordFile}: ${(error as Error).message}`, { cause: error });
    }
  }
  return {
    username: env.FACEOPS_GIT_USERNAME || source.username || (password ? "git" : undefined),
    password,
    sshKeyFile: env.FACEOPS_GIT_SSH_KEY_FILE || source.sshKeyFile || undefined,
  };
}

/** A secret from an environment variable, or else from a file (a mounted Secret); "" when neither is set. */
export function readSecret(context: CommandContext, envName: string, file: string, what: string): string {
  const fromEnv = context.env[envName];
  if (fromEnv) return fromEnv.trim();
  if (!file) return "";
  try {
    return readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`cannot read the ${what} file ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** The dataset a command names (a location and perhaps a commit), read with the context's settings. */
export function datasetRequest(context: CommandContext, location: string, commit: string | undefined, onProgress?: CheckRequest["onProgress"]): CheckRequest {
  return { location, commit, dataset: context.loaded.config.dataset, store: context.store, log: context.log, env: context.env, credentials: gitCredentials(context), onProgress };
}

/** The store's inbox of faces kept for review, bounded as serve.capture says; one per process, so its index of faces is one. */
export function storeInbox(context: CommandContext): Inbox {
  const { capture } = context.loaded.config.serve;
  return new Inbox(context.store.inbox, { maxItems: capture.maxItems, maxAgeDays: capture.maxAgeDays });
}
