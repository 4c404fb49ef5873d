import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { validateNewPath } from "../../../src/dataset/git-writer.js";
import { GitSource, SourceError } from "../../../src/dataset/source.js";
import { silentLogger } from "../../../src/log.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { startGitHttpServer } from "../../helpers/git-http-server.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";

/**
 * The write side of the face repository on real git: a commit made from objects alone, a local
 * branch moved only from where the commit was built (with the checkout following), and a new branch
 * pushed over smart HTTP with credentials, never forced.
 */

const author = { name: "Grace Hopper", email: "grace@example.com" };
const committer = { name: "faceops", email: "faceops@localhost" };
const time = new Date("2026-12-04T12:00:00Z");
const bytes = (text: string) => new TextEncoder().encode(text);

describe("writing reviewed faces to a local repository", () => {
  const repo = new TestRepo();
  const store = temporaryFolder();
  repo.write("Alice/a.jpg", "alice");
  const head = repo.commit("Alice");
  after(() => {
    repo.dispose();
    store.dispose();
  });

  test("a commit of new files on the checked-out branch; the checkout follows and stays clean", async () => {
    const source = await GitSource.open(repo.path, { store: new StoreLayout(store.path), log: silentLogger(), env: process.env });
    try {
      const writer = source.openWriter();
      const commit = await writer.commitFiles({ parent: head, files: [{ path: "Ada Visitor/1a2b.jpg", bytes: bytes("face one") }, { path: "Ada Visitor/3c4d.jpg", bytes: bytes("face two") }], message: "faceops: 2 reviewed faces of Ada Visitor\n\nfrom the inbox\n", author, committer, time });
      assert.equal(repo.git("rev-parse", "HEAD").trim(), head, "nothing moved yet");
      await writer.advanceBranch("main", commit, head);
      assert.equal(repo.git("rev-parse", "HEAD").trim(), commit);
      assert.equal(repo.git("log", "-1", "--format=%an <%ae>|%cn|%s").trim(), "Grace Hopper <grace@example.com>|faceops|faceops: 2 reviewed faces of Ada Visitor");
      assert.deepEqual(repo.git("ls-tree", "-r", "--name-only", "HEAD").trim().split("\n"), ["Ada Visitor/1a2b.jpg", "Ada Visitor/3c4d.jpg", "Alice/a.jpg"]);
      assert.equal(readFileSync(join(repo.path, "Ada Visitor", "1a2b.jpg"), "utf8"), "face one", "the files are in the checkout");
      const status = repo.git("status", "--porcelain").trim();
      assert.equal(status, "", `the checkout is clean: ${status}`);

      const stale = await writer.commitFiles({ parent: head, files: [{ path: "Bob/b.jpg", bytes: bytes("bob") }], message: "stale\n", author, committer, time });
      await assert.rejects(writer.advanceBranch("main", stale, head), (error: Error) => error instanceof SourceError && /cannot move main of .* it moved from/.test(error.message));
      assert.equal(repo.git("rev-parse", "HEAD").trim(), commit, "a branch that moved meanwhile is left where it is");
      assert.ok(!existsSync(join(repo.path, "Bob")));
    } finally {
      await source.close();
    }
  });

  test("paths that could leave the repository or touch .git are refused", () => {
    for (const path of ["../x.jpg", "Ada/../../x.jpg", ".git/config", "Ada/.GIT/x", "/abs.jpg", "Ada//x.jpg", "Ada\\x.jpg", "Ada/\u0007.jpg"]) {
      assert.throws(() => validateNewPath(path), /is not a path faceops may write/, path);
    }
    assert.doesNotThrow(() => validateNewPath("Ada Visitor/1a2b.jpg"));
  });
});

describe("writing reviewed faces to a remote repository", () => {
  const origin = new TestRepo();
  const serverRoot = temporaryFolder();
  const store = temporaryFolder();
  after(() => {
    origin.dispose();
    serverRoot.dispose();
    store.dispose();
  });

  test("pushes a new branch with the configured credentials; an existing branch is never overwritten", async () => {
    origin.write("Alice/a.jpg", "alice");
    const head = origin.commit("Alice");
    const bare = join(serverRoot.path, "faces.git");
    execFileSync("git", ["clone", "--quiet", "--bare", origin.path, bare]);
    const server = await startGitHttpServer(serverRoot.path, { username: "ci-bot", password: "s3cret" });
    const source = await GitSource.open(`${server.url}/faces.git`, { store: new StoreLayout(store.path), log: silentLogger(), env: process.env, credentials: { username: "ci-bot", password: "s3cret" } });
    try {
      const writer = source.openWriter();
      const commit = await writer.commitFiles({ parent: head, files: [{ path: "Ada Visitor/1a2b.jpg", bytes: bytes("face") }], message: "faceops: reviewed faces\n", author, committer, time });
      await writer.pushBranch(commit, "faceops/review-1");
      const git = (...args: string[]) => execFileSync("git", ["--git-dir", bare, ...args], { encoding: "utf8" }).trim();
      assert.equal(git("rev-parse", "refs/heads/faceops/review-1"), commit);
      assert.equal(git("rev-parse", "refs/heads/main"), head, "main is not touched: the branch is for a person to merge");
      await assert.rejects(writer.advanceBranch("main", commit, head), /is a remote repository: push a branch instead/);

      const other = await writer.commitFiles({ parent: head, files: [{ path: "Bob/b.jpg", bytes: bytes("bob") }], message: "other\n", author, committer, time });
      await assert.rejects(writer.pushBranch(other, "faceops/review-1"), (error: Error) => error instanceof SourceError && /cannot push faceops\/review-1/.test(error.message) && !error.message.includes("s3cret"));
      assert.equal(git("rev-parse", "refs/heads/faceops/review-1"), commit);
    } finally {
      await source.close();
      await server.close();
    }
  });
});
