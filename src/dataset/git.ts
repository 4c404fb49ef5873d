import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

/**
 * Every git command faceops runs starts here, so that none of them runs a program that a repository
 * names. A face repository is data from people who can push to it, and git will run programs its
 * configuration or its hooks name: `core.fsmonitor` whenever the index is read, hooks such as
 * `post-index-change` and `reference-transaction`, filter drivers when a work tree file is hashed,
 * `gpg.program` when `log.showSignature` is on, the upload-pack command, ssh and proxy commands,
 * credential helpers and askpass programs on a fetch, and remote helpers (`ext::`) through a
 * promisor remote's lazy fetch. A store clone's configuration could be altered too. So each
 * command gets, on its command line (which outranks every configuration file) or in its
 * environment, a value of ours for each of those; `--upload-pack` is given where it matters because
 * for it the first value in the configuration wins, not the last.
 *
 * Commands that faceops never runs (diff, checkout, merge, push, commit with an editor) are not
 * neutralised one setting at a time; the ones it runs are listed in this file's tests with a trap
 * for each setting.
 */

/** `-c` settings on every command. */
const neutralisedConfig: ReadonlyArray<readonly [string, string]> = [
  // Read with the index (git status): a program run on every read.
  ["core.fsmonitor", "false"],
  // No hook at all: an empty folder's worth of hooks.
  ["core.hooksPath", "/dev/null"],
  // GIT_SSH_COMMAND (set by faceops for a key file) still outranks it; otherwise the plain ssh.
  ["core.sshCommand", "ssh"],
  // GIT_ASKPASS (set by faceops when it has credentials) outranks it; empty: no program is asked.
  ["core.askPass", ""],
  // An empty helper empties the list of helpers read so far, URL-specific ones included.
  ["credential.helper", ""],
  // Run during a fetch when the clone has alternates; empty: nothing runs.
  ["core.alternateRefsCommand", ""],
  // Verifying signatures runs gpg.program (or gpg.ssh.program).
  ["log.showSignature", "false"],
  // ":" is git's own "no editor"; no command of ours opens one, this keeps it so.
  ["core.editor", ":"],
  ["sequence.editor", ":"],
];

/**
 * Which transports a command may use. A repository opened in place is never fetched into, so it may
 * use none (a partial clone's lazy fetch would otherwise run its promisor remote's upload-pack or an
 * `ext::` helper); a clone in the store fetches over the transports faceops accepts as addresses.
 * GIT_ALLOW_PROTOCOL outranks every protocol.*.allow setting in the configuration.
 */
export type GitTransports = "none" | "fetch";
const allowedProtocols: Record<GitTransports, string> = { none: "none", fetch: "file:git:http:https:ssh" };

/**
 * The environment git runs with: what it needs to find programs, home, locale, proxies and CA
 * certificates, and nothing else. An inherited EDITOR, PAGER or GIT_* variable could make git run
 * other programs, so the rest of the parent's environment is not passed on.
 */
const passedToGit = /^(PATH|HOME|USER|LOGNAME|LANG|LC_[A-Z]+|TZ|TMPDIR|XDG_CONFIG_HOME|SSH_AUTH_SOCK|SSL_CERT_FILE|SSL_CERT_DIR|GIT_SSL_CAINFO|GIT_SSL_NO_VERIFY|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$/;

export function gitEnvironment(base: NodeJS.ProcessEnv, transports: GitTransports = "none"): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) if (passedToGit.test(name) && value !== undefined) env[name] = value;
  return {
    ...env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: allowedProtocols[transports],
    // Set, even empty, it outranks core.gitProxy, a list in which the first match wins.
    GIT_PROXY_COMMAND: "",
    // Git 2.44 and later: no lazy fetch at all (older versions are held by GIT_ALLOW_PROTOCOL).
    GIT_NO_LAZY_FETCH: "1",
    // Reading commands (git status) do not rewrite the index, so nothing fires on its change.
    GIT_OPTIONAL_LOCKS: "0",
    GIT_EDITOR: ":",
    GIT_PAGER: "cat",
  };
}

/** The arguments of one git command, with the neutralising settings (and `extra` ones) before it. */
export function gitArguments(args: readonly string[], extra: ReadonlyArray<readonly [string, string]> = []): string[] {
  const settings = [...neutralisedConfig, ...extra].flatMap(([key, value]) => ["-c", `${key}=${value}`]);
  return ["--no-pager", ...settings, ...args];
}

/**
 * `-c` settings that switch off every filter driver git's configuration names for the repository
 * `git` runs in (a driver's clean, smudge and process commands run when a work tree file is hashed:
 * git status, git add). A driver name that `-c` cannot carry (it holds "=" or a line break) gives
 * null: the caller then does without the command.
 */
export async function neutralisedFilters(git: (args: string[]) => Promise<string>): Promise<Array<readonly [string, string]> | null> {
  // Exit code 1: no such setting.
  const output = await git(["config", "--null", "--get-regexp", "^filter\\."]).catch((error: unknown) => {
    if (error instanceof GitCommandError && error.exitCode === 1) return "";
    throw error;
  });
  const names = new Set<string>();
  for (const entry of output.split("\0")) {
    // Each entry is "<key>\n<value>"; a key is filter.<driver>.<setting>, and the driver may hold dots.
    const key = entry.split("\n", 1)[0] ?? "";
    const dot = key.lastIndexOf(".");
    if (key.startsWith("filter.") && dot > "filter.".length) names.add(key.slice("filter.".length, dot));
  }
  const settings: Array<readonly [string, string]> = [];
  for (const name of names) {
    if (/[=\n\r\0]/.test(name)) return null;
    settings.push([`filter.${name}.clean`, ""], [`filter.${name}.smudge`, ""], [`filter.${name}.process`, ""], [`filter.${name}.required`, "false"]);
  }
  return settings;
}

export class GitCommandError extends Error {
  override readonly name = "GitCommandError";

  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface GitRunOptions {
  /** The folder git runs in: a repository, or the folder a clone is made in. */
  cwd: string;
  /** From gitEnvironment(). */
  env: NodeJS.ProcessEnv;
  /** Kill a command that shows no sign of life (no output at all) for this long. */
  timeoutMs?: number;
  /** More `-c` settings for this one command. */
  config?: ReadonlyArray<readonly [string, string]>;
}

/** Starts a long-lived git command (e.g. `cat-file --batch`) with the same protections. */
export function spawnGit(args: readonly string[], options: Pick<GitRunOptions, "cwd" | "env" | "config">): ChildProcessWithoutNullStreams {
  return spawn("git", gitArguments(args, options.config), { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"] });
}

/**
 * Runs one git command and answers its standard output. A failure is a GitCommandError whose
 * message is git's own standard error (never the command line, which may hold a URL).
 */
export function runGit(args: readonly string[], options: GitRunOptions): Promise<string> {
  const { timeoutMs = 120_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawnGit(args, options);
    const stdout: Buffer[] = [];
    let stderr = "";
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, timeoutMs);
    };
    alive();
    child.stdin.end();
    child.stdout.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      alive();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-8000);
      alive();
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new GitCommandError(`git could not start: ${error.message}`, null, ""));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new GitCommandError(`git ${args[0] ?? ""} showed no sign of life for ${Math.round(timeoutMs / 1000)} s and was stopped`, code, stderr));
      else if (code === 0) resolve(Buffer.concat(stdout).toString("utf8"));
      else reject(new GitCommandError(stderr.trim() || `git ${args[0] ?? ""} exited with code ${code}`, code, stderr));
    });
  });
}
