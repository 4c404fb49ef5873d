import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile, realpath } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { redactUrl, type Logger } from "../log.js";
import type { StoreLayout } from "../store/layout.js";
import { temporaryPath } from "../store/owner.js";
import { BlobReader } from "./blob-reader.js";
import { GitCommandError, gitEnvironment, neutralisedFilters, runGit } from "./git.js";
import { GitWriter } from "./git-writer.js";
import { SourceError } from "./source-error.js";

import { unquoteGitPath } from "./path-bytes.js";

export { gitEnvironment } from "./git.js";

/**
 * The git side of a dataset: open a local repository in place or keep a bare clone of a remote one
 * in the store, fetch, resolve commits and read trees and blobs. Nothing here ever checks out files
 * or touches a user's working tree: trees are listed with `ls-tree` and files read from the object
 * database, so the repository a user is editing stays exactly as it was.
 */

export interface GitCredentials {
  username?: string;
  /** HTTPS password or token. Handed to git through GIT_ASKPASS, never on a command line or in a log. */
  password?: string;
  /** Private key for SSH remotes. */
  sshKeyFile?: string;
}

export interface CommitInfo {
  sha: string;
  author: string;
  date: string;
  subject: string;
}

export type GitTreeEntryKind = "file" | "symlink" | "submodule";

export interface GitTreeEntry {
  path: string;
  /** The path's exact bytes: git accepts any, and `path` is their (lossy) UTF-8 reading. */
  pathBytes: Buffer;
  kind: GitTreeEntryKind;
  blobId: string;
  size: number;
}

export { SourceError } from "./source-error.js";

/** The repository was read and has no such commit or branch: asking again will not help. */
export class UnknownRevisionError extends SourceError {
  override readonly name = "UnknownRevisionError";
}

export interface GitSourceOptions {
  store: StoreLayout;
  log: Logger;
  credentials?: GitCredentials;
  /** The environment git runs with (PATH, HOME, proxies). Only the CLI reads process.env. */
  env: NodeJS.ProcessEnv;
  /** Kill a git command that shows no sign of life for this long. */
  timeoutMs?: number;
  /**
   * A remote's clone as it is, without fetching (a SourceError when there is no clone yet): for
   * reading a commit the clone may already hold while another user of the clone fetches.
   */
  offline?: boolean;
}

/**
 * Refuses locations git would read as something other than a repository address: a leading "-"
 * is an option (`--upload-pack=...` runs a program), and the `<transport>::<address>` form runs a
 * remote helper (`ext::sh -c ...` runs anything).
 */
export function validateRepoLocation(location: string): void {
  if (location.trim() === "") throw new SourceError("the repository location is empty");
  if (location.startsWith("-")) {
    throw new SourceError(`refusing repository "${location}": it starts with "-" and git would read it as an option`);
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(location)) {
    throw new SourceError(
      `refusing repository "${redactUrl(location)}": the "<transport>::" form runs a git remote helper (${location.split("::")[0]}::); use an https, ssh, git or file URL`,
    );
  }
  if (/[\0\n\r]/.test(location)) throw new SourceError("refusing a repository location that contains control characters");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(location)?.[1]?.toLowerCase();
  if (scheme && !["http", "https", "ssh", "git", "file"].includes(scheme)) {
    throw new SourceError(`refusing repository "${redactUrl(location)}": the ${scheme}:// scheme is not supported; use https, ssh, git or file`);
  }
}

/** A URL or scp-like `user@host:path` address, as opposed to a folder on this machine. */
export function isRemoteLocation(location: string): boolean {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(location)) return true;
  // scp-like syntax: no slash before the first colon, and not a Windows drive letter.
  const colon = location.indexOf(":");
  return colon > 1 && !location.slice(0, colon).includes("/");
}

/** Moves a password embedded in an https URL into the credentials, so git never stores it. */
export function splitUrlCredentials(location: string, credentials: GitCredentials): { url: string; credentials: GitCredentials } {
  if (!/^https?:\/\//i.test(location)) return { url: location, credentials };
  let parsed: URL;
  try {
    parsed = new URL(location);
  } catch (error) {
    throw new SourceError(`"${redactUrl(location)}" is not a valid URL: ${(error as Error).message}`, { cause: error });
  }
  if (!parsed.username && !parsed.password) return { url: location, credentials };
  const merged: GitCredentials = {
    ...credentials,
    username: credentials.username || decodeURIComponent(parsed.username),
    password: credentials.password || decodeURIComponent(parsed.password) || undefined,
  };
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), credentials: merged };
}

/** Runs git commands in one folder with one environment, each with the protections of git.ts. */
type Git = (args: string[], config?: ReadonlyArray<readonly [string, string]>) => Promise<string>;

function openGit(cwd: string, env: NodeJS.ProcessEnv, timeoutMs?: number): Git {
  return (args, config) => runGit(args, { cwd, env, timeoutMs, config });
}

/** git's own name for the program that serves a fetch, given so that no configured one is run. */
const uploadPack = "git-upload-pack";

/** Quotes a value for the POSIX shell that git runs GIT_SSH_COMMAND with. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const askPassScript = `#!/bin/sh
# Written by faceops: answers git's credential prompts from the environment of this one git process.
case "$1" in
  Username*) printf '%s\\n' "$FACEOPS_ASKPASS_USERNAME" ;;
  *) printf '%s\\n' "$FACEOPS_ASKPASS_PASSWORD" ;;
esac
`;

export class GitSource {
  private blobReaders = new Set<BlobReader>();

  private constructor(
    /** The location as the user gave it, with any password removed: safe to log and record. */
    readonly location: string,
    /** The repository's git directory (a bare clone in the store, or the local repository's .git). */
    readonly gitDir: string,
    /** The working tree of a local, non-bare repository; null for clones in the store. */
    readonly workTree: string | null,
    readonly remoteUrl: string | null,
    private readonly git: Git,
    private readonly env: NodeJS.ProcessEnv,
    private readonly privateDir: string | null,
    private readonly log: Logger,
  ) {}

  /** Opens a local repository in place, or clones (then reuses) a bare copy of a remote one. */
  static async open(location: string, options: GitSourceOptions): Promise<GitSource> {
    validateRepoLocation(location);
    if (isRemoteLocation(location)) return GitSource.openRemote(location, options);
    return GitSource.openLocal(location, options);
  }

  /** True when `path` is the top of a git working tree or a bare repository (not merely inside one). */
  static async isRepository(path: string, env: NodeJS.ProcessEnv): Promise<boolean> {
    const absolute = resolve(path);
    if (!(await stat(absolute).catch(() => null))?.isDirectory()) return false;
    const git = openGit(absolute, gitEnvironment(env));
    let bare: boolean;
    try {
      bare = (await git(["rev-parse", "--is-bare-repository"])).trim() === "true";
    } catch (error) {
      if (/not a git repository/i.test((error as Error).message)) return false;
      throw new SourceError(`cannot tell whether ${absolute} is a git repository: ${gitMessage(error)}`, { cause: error });
    }
    // A bare repository answers "." for its own git directory; a work tree names its top folder.
    if (bare) return (await git(["rev-parse", "--git-dir"])).trim() === ".";
    const topLevel = (await git(["rev-parse", "--show-toplevel"])).trim();
    return (await realpath(topLevel)) === (await realpath(absolute));
  }

  private static async openLocal(path: string, options: GitSourceOptions): Promise<GitSource> {
    const absolute = resolve(path);
    if (!(await GitSource.isRepository(absolute, options.env))) {
      throw new SourceError(`${absolute} is not the top folder of a git repository`);
    }
    const env = gitEnvironment(options.env);
    const git = openGit(absolute, env, options.timeoutMs);
    const gitDir = resolve(absolute, (await git(["rev-parse", "--git-dir"])).trim());
    const bare = (await git(["rev-parse", "--is-bare-repository"])).trim() === "true";
    return new GitSource(absolute, gitDir, bare ? null : absolute, null, git, env, null, options.log);
  }

  private static async openRemote(location: string, options: GitSourceOptions): Promise<GitSource> {
    const { url, credentials } = splitUrlCredentials(location, options.credentials ?? {});
    const safeUrl = redactUrl(url);
    const privateDir = await mkdtemp(join(tmpdir(), "faceops-git-"));
    await chmod(privateDir, 0o700);
    const env = await GitSource.credentialEnvironment(options.env, credentials, privateDir);
    const cloneDir = options.store.sourceClone(url);
    const open = () => openGit(cloneDir, env, options.timeoutMs);
    try {
      if (await GitSource.exists(join(cloneDir, "HEAD"))) {
        const source = new GitSource(safeUrl, cloneDir, null, url, open(), env, privateDir, options.log);
        if (!options.offline) await source.fetch();
        return source;
      }
      if (options.offline) throw new SourceError(`${safeUrl} has not been cloned into the store yet`);
      options.log.info({ repo: safeUrl }, "cloning the face repository");
      // Clone next to the final place and rename, so an interrupted clone is never mistaken for one.
      await mkdir(dirname(cloneDir), { recursive: true });
      // Named after this process, so that a controller starting can tell a stray one from one in progress.
      const partial = await temporaryPath(cloneDir, "partial");
      const cloner = openGit(dirname(cloneDir), env, options.timeoutMs);
      try {
        await cloner(["clone", "--bare", "--quiet", `--upload-pack=${uploadPack}`, "--", url, partial]);
        await rename(partial, cloneDir);
      } catch (error) {
        await rm(partial, { recursive: true, force: true });
        throw new SourceError(`cannot clone ${safeUrl}: ${gitMessage(error)}`, { cause: error });
      }
      return new GitSource(safeUrl, cloneDir, null, url, open(), env, privateDir, options.log);
    } catch (error) {
      await rm(privateDir, { recursive: true, force: true });
      throw error;
    }
  }

  private static async credentialEnvironment(base: NodeJS.ProcessEnv, credentials: GitCredentials, privateDir: string): Promise<NodeJS.ProcessEnv> {
    const env = gitEnvironment(base, "fetch");
    if (credentials.password || credentials.username) {
      const script = join(privateDir, "askpass.sh");
      await writeFile(script, askPassScript, { mode: 0o700 });
      env.GIT_ASKPASS = script;
      env.FACEOPS_ASKPASS_USERNAME = credentials.username ?? "";
      env.FACEOPS_ASKPASS_PASSWORD = credentials.password ?? "";
    }
    if (credentials.sshKeyFile) {
      env.GIT_SSH_COMMAND = `ssh -i ${shellQuote(resolve(credentials.sshKeyFile))} -o IdentitiesOnly=yes -o BatchMode=yes`;
    }
    return env;
  }

  private static async exists(path: string): Promise<boolean> {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  }

  get isRemote(): boolean {
    return this.remoteUrl !== null;
  }

  /**
   * Brings a remote clone up to date. A local repository is already up to date by definition. The
   * URL and refspec are faceops' own, not read from the clone's remote.origin settings, and the
   * upload-pack command is given (for it the first configured value would win over ours).
   */
  async fetch(): Promise<void> {
    if (!this.remoteUrl) return;
    try {
      await this.git(["fetch", "--prune", "--quiet", `--upload-pack=${uploadPack}`, "--", this.remoteUrl, "+refs/heads/*:refs/heads/*"]);
    } catch (error) {
      throw new SourceError(`cannot fetch ${this.location}: ${gitMessage(error)}`, { cause: error });
    }
  }

  /** Resolves a revision (a sha, a branch, a tag, HEAD) to a full commit id. */
  async resolveCommit(revision: string): Promise<string> {
    if (revision.startsWith("-") || /[\0\s]/.test(revision)) throw new UnknownRevisionError(`"${revision}" is not a valid git revision`);
    // `rev-parse --verify --quiet` exits with 1 for a revision that names no commit; any other
    // failure (git cannot start, the repository is unreadable) is not an answer about the revision.
    const answer = await this.git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${revision}^{commit}`]).catch((error: unknown) => {
      if (error instanceof GitCommandError && error.exitCode === 1) return "";
      throw new SourceError(`cannot read ${this.location}: ${gitMessage(error)}`, { cause: error });
    });
    const sha = answer.trim();
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) throw new UnknownRevisionError(`${this.location} has no commit "${revision}"`);
    return sha;
  }

  /** The commit at the tip of a branch, with the branches that do exist when it does not. */
  async resolveBranch(branch: string): Promise<string> {
    const heads = (await this.git(["for-each-ref", "--format=%(refname:short)", "refs/heads/"])).split("\n").filter(Boolean);
    if (!heads.includes(branch)) {
      const known = heads.length ? `its branches are: ${heads.join(", ")}` : "it has no commits yet";
      throw new UnknownRevisionError(`${this.location} has no branch "${branch}"; ${known}`);
    }
    return this.resolveCommit(`refs/heads/${branch}`);
  }

  /** Commits reachable from `until` but not from `since` (all of them when since is null), oldest first. */
  async commitsSince(since: string | null, until: string): Promise<CommitInfo[]> {
    const range = since ? `${await this.resolveCommit(since)}..${await this.resolveCommit(until)}` : await this.resolveCommit(until);
    const output = await this.git(["log", "--no-show-signature", "--no-ext-diff", "--no-textconv", "--reverse", "--format=%H%x00%an%x00%aI%x00%s%x1e", range, "--"]);
    return output
      .split("\x1e")
      .map((record) => record.trim())
      .filter(Boolean)
      .map((record) => {
        const [sha = "", author = "", date = "", subject = ""] = record.split("\0");
        return { sha, author, date, subject };
      });
  }

  /**
   * The newest commit reachable from `from` whose message has the trailer `<key>: <value>` (exact),
   * among the last `depth` commits; null when there is none.
   */
  async findCommitWithTrailer(from: string, key: string, value: string, depth = 1000): Promise<string | null> {
    if (!/^[A-Za-z][A-Za-z-]*$/.test(key) || /[\0\n\r]/.test(value)) throw new Error(`"${key}: ${value}" is not a trailer faceops looks for`);
    const output = await this.git(["log", "--no-show-signature", `--max-count=${depth}`, `--format=%H%x00%(trailers:key=${key},valueonly,separator=%x01)%x1e`, await this.resolveCommit(from), "--"]);
    for (const record of output.split("\x1e")) {
      const [sha = "", values = ""] = record.trim().split("\0");
      if (sha && values.split("\x01").map((entry) => entry.trim()).includes(value)) return sha;
    }
    return null;
  }

  /** Every file in the commit's tree, with blob ids and sizes, read from the object database. */
  async listTree(commit: string): Promise<GitTreeEntry[]> {
    const sha = await this.resolveCommit(commit);
    // Quoted paths (not -z): git escapes every byte outside printable ASCII, so the output survives
    // decoding as text and unquoteGitPath recovers the exact bytes of names that are not UTF-8.
    const output = await this.git(["-c", "core.quotePath=true", "ls-tree", "-r", "--long", "--full-tree", sha]);
    const entries: GitTreeEntry[] = [];
    for (const record of output.split("\n")) {
      if (!record) continue;
      const tab = record.indexOf("\t");
      const [mode = "", type = "", blobId = "", sizeText = ""] = record.slice(0, tab).split(/ +/);
      const pathBytes = unquoteGitPath(record.slice(tab + 1));
      const kind: GitTreeEntryKind = mode === "120000" ? "symlink" : type === "commit" ? "submodule" : "file";
      entries.push({ path: pathBytes.toString("utf8"), pathBytes, kind, blobId, size: sizeText === "-" ? 0 : Number(sizeText) });
    }
    return entries;
  }

  /**
   * Local uncommitted changes are invisible to faceops, which reads commits; worth a warning. The one
   * command that reads the work tree: git status hashes files through the repository's filter
   * drivers, so each configured driver is switched off for it (a driver with a name `-c` cannot
   * carry means no answer: null). Submodules are not looked into (their configuration is theirs).
   */
  async hasUncommittedChanges(): Promise<boolean | null> {
    if (!this.workTree) return false;
    const filters = await neutralisedFilters(this.git);
    if (!filters) return null;
    const output = await this.git(["status", "--porcelain", "--untracked-files=normal", "--ignore-submodules=all", "--no-renames"], filters);
    return output.trim() !== "";
  }

  /** The write side (reviewed faces), with this source's environment and credentials. */
  openWriter(): GitWriter {
    return new GitWriter({ gitDir: this.gitDir, workTree: this.workTree, remoteUrl: this.remoteUrl, env: this.env, location: this.location });
  }

  openBlobReader(): BlobReader {
    const reader = new BlobReader(this.gitDir, this.env);
    this.blobReaders.add(reader);
    return reader;
  }

  async close(): Promise<void> {
    await Promise.all([...this.blobReaders].map((reader) => reader.close()));
    this.blobReaders.clear();
    if (this.privateDir) await rm(this.privateDir, { recursive: true, force: true });
    this.log.debug({ repo: this.location }, "git source closed");
  }
}

/** git's own explanation from a failed command, without the command line. */
function gitMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return redactUrl(message.trim().split("\n").filter(Boolean).slice(-3).join(" "));
}
