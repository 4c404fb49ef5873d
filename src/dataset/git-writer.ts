import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GitCommandError, neutralisedFilters, runGit } from "./git.js";
import { SourceError } from "./source-error.js";

/**
 * Commits to the face repository, the one way faceops writes to it (reviewed faces). A commit is
 * built from objects alone: blobs, a tree from the parent's tree plus the new files in a private
 * index, and the commit, so neither the repository's index nor a working tree is touched while it
 * is made. Then a local branch is moved to it only if it still points where the commit was built
 * (a push meanwhile makes the move fail, never lose the push), or the commit is pushed to a remote
 * as a new branch, never forced.
 */

export interface Identity {
  name: string;
  email: string;
}

export interface NewFile {
  /** "/"-separated path in the repository. */
  path: string;
  bytes: Uint8Array;
}

export interface GitWriterContext {
  gitDir: string;
  /** The working tree of a local, non-bare repository; null otherwise. */
  workTree: string | null;
  /** The remote's URL, for a clone in the store; null for a local repository. */
  remoteUrl: string | null;
  /** From gitEnvironment(..., "fetch") with the credentials' askpass, as the source fetches with. */
  env: NodeJS.ProcessEnv;
  /** The location as the user gave it, without a password: for messages. */
  location: string;
}

const receivePack = "git-receive-pack";

export class GitWriter {
  constructor(private readonly context: GitWriterContext) {}

  private git(args: string[], env: NodeJS.ProcessEnv = {}, cwd = this.context.gitDir): Promise<string> {
    return runGit(args, { cwd, env: { ...this.context.env, ...env } });
  }

  /** A commit adding `files` on top of `parent`; files already in the parent's tree are replaced. */
  async commitFiles(request: { parent: string; files: readonly NewFile[]; message: string; author: Identity; committer: Identity; time: Date }): Promise<string> {
    for (const file of request.files) validateNewPath(file.path);
    const scratch = await mkdtemp(join(tmpdir(), "faceops-commit-"));
    try {
      const index = { GIT_INDEX_FILE: join(scratch, "index") };
      await this.git(["read-tree", request.parent], index);
      for (const [position, file] of request.files.entries()) {
        const source = join(scratch, `blob-${position}`);
        await writeFile(source, file.bytes);
        // --no-filters: the bytes are stored as they are, whatever .gitattributes says.
        const blob = (await this.git(["hash-object", "-w", "--no-filters", "--", source])).trim();
        await this.git(["update-index", "--add", "--cacheinfo", `100644,${blob},${file.path}`], index);
      }
      const tree = (await this.git(["write-tree"], index)).trim();
      const when = `${Math.floor(request.time.getTime() / 1000)} +0000`;
      const identity = {
        GIT_AUTHOR_NAME: request.author.name,
        GIT_AUTHOR_EMAIL: request.author.email,
        GIT_AUTHOR_DATE: when,
        GIT_COMMITTER_NAME: request.committer.name,
        GIT_COMMITTER_EMAIL: request.committer.email,
        GIT_COMMITTER_DATE: when,
      };
      const messageFile = join(scratch, "message");
      await writeFile(messageFile, request.message);
      return (await this.git(["commit-tree", tree, "-p", request.parent, "-F", messageFile], identity)).trim();
    } catch (error) {
      throw new SourceError(`cannot make a commit in ${this.context.location}: ${(error as Error).message}`, { cause: error });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * Moves a local branch from `expected` to `commit`. When the branch is checked out in the
   * repository's working tree, the files move with it (a fast-forward of index and tree that refuses
   * to overwrite local changes), so the checkout does not show the new files as deleted.
   */
  async advanceBranch(branch: string, commit: string, expected: string): Promise<void> {
    if (this.context.remoteUrl) throw new SourceError(`${this.context.location} is a remote repository: push a branch instead`);
    const ref = `refs/heads/${branch}`;
    try {
      const { workTree } = this.context;
      const at = (await this.git(["rev-parse", "--verify", "--quiet", ref]).catch(() => "")).trim();
      if (at !== expected) throw new SourceError(`cannot move ${branch} of ${this.context.location} to the reviewed faces: it moved from ${expected.slice(0, 12)} to ${at.slice(0, 12) || "nowhere"} meanwhile`);
      const checkedOut = workTree ? (await this.git(["symbolic-ref", "--quiet", "HEAD"], {}, workTree).catch(() => "")).trim() === ref : false;
      if (!workTree || !checkedOut) {
        await this.git(["update-ref", "-m", "faceops: reviewed faces", ref, commit, expected]);
        return;
      }
      const filters = await neutralisedFilters((args) => this.git(args, {}, workTree));
      if (!filters) throw new SourceError(`${this.context.location} has a filter driver faceops cannot switch off; commit to another branch (review.branch)`);
      const settings = filters.flatMap(([key, value]) => ["-c", `${key}=${value}`]);
      // A two-tree fast-forward of index and files: refuses to overwrite local changes to them.
      await this.git([...settings, "read-tree", "-m", "-u", expected, commit], {}, workTree);
      try {
        await this.git(["update-ref", "-m", "faceops: reviewed faces", ref, commit, expected], {}, workTree);
      } catch (error) {
        // The branch moved between the check and the move: put the checkout back where it was.
        await this.git([...settings, "read-tree", "-m", "-u", commit, expected], {}, workTree).catch(() => undefined);
        throw error;
      }
    } catch (error) {
      if (error instanceof SourceError) throw error;
      throw new SourceError(`cannot move ${branch} of ${this.context.location} to the reviewed faces: ${gitError(error)}`, { cause: error });
    }
  }

  /** Pushes `commit` to the remote as the new branch `branch` (refused, never forced, if it exists). */
  async pushBranch(commit: string, branch: string): Promise<void> {
    if (!this.context.remoteUrl) throw new SourceError(`${this.context.location} is a local repository: move a branch instead`);
    try {
      await this.git(["push", "--quiet", "--no-verify", `--receive-pack=${receivePack}`, "--", this.context.remoteUrl, `${commit}:refs/heads/${branch}`]);
    } catch (error) {
      throw new SourceError(`cannot push ${branch} to ${this.context.location}: ${gitError(error)}`, { cause: error });
    }
  }
}

/** A path faceops writes: relative, "/"-separated, no empty, "." or ".." part, no .git, printable. */
export function validateNewPath(path: string): void {
  const parts = path.split("/");
  const bad = parts.some((part) => part === "" || part === "." || part === ".." || part.toLowerCase() === ".git") || /[\p{Cc}\\]/u.test(path);
  if (bad) throw new SourceError(`"${path}" is not a path faceops may write in a repository`);
}

function gitError(error: unknown): string {
  if (error instanceof GitCommandError) return error.message.trim().split("\n").slice(-3).join(" ");
  return error instanceof Error ? error.message : String(error);
}
