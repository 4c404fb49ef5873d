import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** A real git repository in a temporary folder, driven by the git binary, for tests. */
export class TestRepo {
  readonly path: string;

  constructor(prefix = "faceops-repo-") {
    this.path = mkdtempSync(join(tmpdir(), prefix));
    this.git("init", "--quiet", "--initial-branch=main");
    this.git("config", "user.email", "tests@faceops.invalid");
    this.git("config", "user.name", "faceops tests");
    this.git("config", "commit.gpgsign", "false");
  }

  git(...args: string[]): string {
    return execFileSync("git", args, { cwd: this.path, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  write(relative: string, contents: string | Uint8Array): this {
    const target = join(this.path, relative);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, contents);
    return this;
  }

  copy(source: string, relative: string): this {
    const target = join(this.path, relative);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
    return this;
  }

  symlink(target: string, relative: string): this {
    const link = join(this.path, relative);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(target, link);
    return this;
  }

  remove(relative: string): this {
    rmSync(join(this.path, relative), { force: true });
    return this;
  }

  move(from: string, to: string): this {
    const target = join(this.path, to);
    mkdirSync(dirname(target), { recursive: true });
    renameSync(join(this.path, from), target);
    return this;
  }

  /** Stages everything and commits; returns the new commit id. */
  commit(message: string): string {
    this.git("add", "--all");
    this.git("commit", "--quiet", "--allow-empty", "-m", message);
    return this.git("rev-parse", "HEAD").trim();
  }

  dispose(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

export function temporaryFolder(prefix = "faceops-test-"): { path: string; dispose: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}
