import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configSchema, type FaceopsConfig } from "./schema.js";

/**
 * Builds the effective configuration from, in rising precedence: defaults, faceops.yaml,
 * FACEOPS_* environment variables, and command-line overrides. Every value remembers where it
 * came from, so a validation error can say "dataset.testFraction = "abc" (from FACEOPS_...)".
 */

export interface ConfigOverride {
  /** Dotted key, e.g. "dataset.testFraction". */
  key: string;
  value: unknown;
  /** Where the value came from, for error messages, e.g. "--set" or "--store". */
  origin: string;
}

export interface ConfigInput {
  /** Path of faceops.yaml; when absent, `defaultFile` is read if it exists. */
  file?: string;
  defaultFile?: string;
  env?: Readonly<Record<string, string | undefined>>;
  overrides?: readonly ConfigOverride[];
}

export interface LoadedConfig {
  config: FaceopsConfig;
  /** Where each leaf key was set, when not by default: "faceops.yaml", "env FACEOPS_STORE", "--set". */
  origins: ReadonlyMap<string, string>;
  /** Things worth telling the user that do not stop the program, e.g. an unknown FACEOPS_ variable. */
  warnings: string[];
  file: string | null;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Environment variables that are not configuration keys but are read elsewhere by the CLI. */
export const nonConfigEnvironment = new Set([
  "FACEOPS_CONFIG",
  "FACEOPS_GIT_PASSWORD",
  "FACEOPS_GIT_PASSWORD_FILE",
  "FACEOPS_GIT_USERNAME",
  "FACEOPS_GIT_SSH_KEY_FILE",
  "FACEOPS_API_TOKEN",
  "FACEOPS_WEBHOOK_SECRET",
  "FACEOPS_MODEL_VERSION",
]);

/**
 * Keys that were renamed, old -> new. Configuration is a contract: an old key (in a file, as its
 * environment variable, or with --set) is still accepted, as the new key, with a warning that names
 * the new one; when both are given in one place, the new one wins and the warning says so.
 */
export const renamedKeys: ReadonlyMap<string, string> = new Map([
  // It counts crashed attempts, not attempts the gate refused.
  ["controller.maxFailedAttempts", "controller.maxCrashedAttempts"],
]);

/**
 * Keys that became sections, old key -> the section's key it still sets. `engine` named the engine
 * before it held the face path's workers too: `engine: tfjs-wasm` in a file, FACEOPS_ENGINE and
 * `--set engine=...` keep setting engine.name, without a warning (the short form is still good
 * usage). Where the full key is given in the same place, it wins.
 */
export const shortFormKeys: ReadonlyMap<string, string> = new Map([["engine", "engine.name"]]);

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every leaf key of the configuration, dotted, derived from the defaults (every key has one). */
export function configKeys(): string[] {
  const keys: string[] = [];
  const walk = (node: Tree, prefix: string) => {
    for (const [name, value] of Object.entries(node)) {
      const key = prefix + name;
      // A map whose default is empty (kubernetes.nodeSelector) is one value, set whole.
      if (isTree(value) && Object.keys(value).length > 0) walk(value, `${key}.`);
      else keys.push(key);
    }
  };
  walk(configSchema.parse({}), "");
  return keys;
}

/** dataset.minImagesPerLabel -> FACEOPS_DATASET_MIN_IMAGES_PER_LABEL */
export function envNameForKey(key: string): string {
  return `FACEOPS_${key.replace(/\./g, "_").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

function setPath(tree: Tree, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isTree(next)) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1] as string] = value;
}

function deletePath(tree: Tree, key: string): void {
  const parts = key.split(".");
  const parent = getPath(tree, parts.slice(0, -1));
  if (isTree(parent)) delete parent[parts[parts.length - 1] as string];
}

function getPath(tree: unknown, path: readonly PropertyKey[]): unknown {
  let node = tree;
  for (const part of path) {
    if (!isTree(node)) return undefined;
    node = node[part as string];
  }
  return node;
}

function recordOrigins(node: unknown, prefix: string, origin: string, origins: Map<string, string>): void {
  if (!isTree(node)) {
    origins.set(prefix, origin);
    return;
  }
  for (const [name, value] of Object.entries(node)) recordOrigins(value, prefix ? `${prefix}.${name}` : name, origin, origins);
}

async function readConfigFile(path: string, required: boolean): Promise<Tree | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError(`config file ${path} must hold a mapping of keys, received ${JSON.stringify(parsed)}`);
  return parsed;
}

/** Turns the short form of a section in a file's tree (`engine: tfjs-wasm`) into its key (engine.name). */
function expandShortForms(tree: Tree): void {
  for (const [short, full] of shortFormKeys) {
    const value = tree[short];
    if (value === undefined || isTree(value)) continue;
    delete tree[short];
    setPath(tree, full, value);
  }
}

/** Moves renamed keys of a file's tree to their new names, saying so in `warnings`. */
function renameFileKeys(tree: Tree, path: string, warnings: string[]): void {
  for (const [old, renamed] of renamedKeys) {
    const value = getPath(tree, old.split("."));
    if (value === undefined) continue;
    deletePath(tree, old);
    if (getPath(tree, renamed.split(".")) !== undefined) {
      warnings.push(`${old} in ${path} is deprecated and was ignored: ${renamed} is set there too, and wins`);
      continue;
    }
    setPath(tree, renamed, value);
    warnings.push(`${old} in ${path} is deprecated: it is now ${renamed} (same meaning); rename it`);
  }
}

function describeIssue(issue: z.core.$ZodIssue, raw: Tree, origins: ReadonlyMap<string, string>): string {
  const key = issue.path.join(".");
  if (issue.code === "unrecognized_keys") {
    const parent = key ? `${key}.` : "";
    return issue.keys
      // JSON quoting: a key read from a file may hold any character, a line break included.
      .map((name) => `unknown key ${JSON.stringify(parent + name)} (from ${origins.get(parent + name) ?? "config"})`)
      .join("\n  ");
  }
  const received = getPath(raw, issue.path);
  const origin = origins.get(key) ?? "config";
  return `${key} = ${JSON.stringify(received)} (from ${origin}): ${issue.message}`;
}

export async function loadConfig(input: ConfigInput = {}): Promise<LoadedConfig> {
  const raw: Tree = {};
  const origins = new Map<string, string>();
  const warnings: string[] = [];

  const filePath = input.file ?? input.defaultFile ?? null;
  const fromFile = filePath ? await readConfigFile(filePath, input.file !== undefined) : null;
  if (fromFile) {
    const tree = structuredClone(fromFile);
    expandShortForms(tree);
    renameFileKeys(tree, filePath as string, warnings);
    Object.assign(raw, tree);
    recordOrigins(tree, "", filePath as string, origins);
  }

  const keys = configKeys();
  const envNames = new Map(keys.map((key) => [envNameForKey(key), key]));
  const renamedEnv = new Map([...renamedKeys].map(([old, renamed]) => [envNameForKey(old), renamed]));
  const shortEnv = new Map([...shortFormKeys].map(([short, full]) => [envNameForKey(short), full]));
  const env = input.env ?? {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("FACEOPS_") || value === undefined) continue;
    const key = envNames.get(name);
    const renamed = renamedEnv.get(name);
    const expanded = shortEnv.get(name);
    if (key) {
      setPath(raw, key, value);
      origins.set(key, `env ${name}`);
    } else if (expanded) {
      const full = envNameForKey(expanded);
      if (env[full] !== undefined) {
        warnings.push(`environment variable ${name} was ignored: ${full} is set too, and wins`);
        continue;
      }
      setPath(raw, expanded, value);
      origins.set(expanded, `env ${name}`);
    } else if (renamed) {
      const current = envNameForKey(renamed);
      if (env[current] !== undefined) {
        warnings.push(`environment variable ${name} is deprecated and was ignored: ${current} is set too, and wins`);
        continue;
      }
      setPath(raw, renamed, value);
      origins.set(renamed, `env ${name}`);
      warnings.push(`environment variable ${name} is deprecated: it is now ${current} (${renamed}, same meaning); rename it`);
    } else if (!nonConfigEnvironment.has(name)) {
      warnings.push(`environment variable ${name} is not a faceops setting and was ignored`);
    }
  }

  const overrides = input.overrides ?? [];
  for (const given of overrides) {
    const expanded = shortFormKeys.get(given.key);
    if (expanded && overrides.some((other) => other.key === expanded)) {
      warnings.push(`${given.key} (from ${given.origin}) was ignored: ${expanded} is given too, and wins`);
      continue;
    }
    const override = expanded ? { ...given, key: expanded } : given;
    const renamed = renamedKeys.get(override.key);
    if (renamed) {
      if (overrides.some((other) => other.key === renamed)) {
        warnings.push(`${override.key} (from ${override.origin}) is deprecated and was ignored: ${renamed} is given too, and wins`);
        continue;
      }
      warnings.push(`${override.key} (from ${override.origin}) is deprecated: it is now ${renamed} (same meaning)`);
    }
    const key = renamed ?? override.key;
    if (!keys.includes(key)) {
      throw new ConfigError(`unknown key ${JSON.stringify(override.key)} (from ${override.origin}); known keys: ${keys.join(", ")}`);
    }
    setPath(raw, key, override.value);
    origins.set(key, override.origin);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, raw, origins));
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return { config: result.data, origins, warnings, file: fromFile ? filePath : null };
}

/** Parses a `--set key=value` argument. */
export function parseSetArgument(argument: string): ConfigOverride {
  const equals = argument.indexOf("=");
  if (equals <= 0) throw new ConfigError(`--set expects key=value, received "${argument}"`);
  return { key: argument.slice(0, equals).trim(), value: argument.slice(equals + 1), origin: `--set ${argument.slice(0, equals).trim()}` };
}
