import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, test } from "node:test";
import {
  GitSource,
  isRemoteLocation,
  SourceError,
  splitUrlCredentials,
  validateRepoLocation,
} from "../../../src/dataset/source.js";
import { createLogger, silentLogger } from "../../../src/log.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { startGitHttpServer } from "../../helpers/git-http-server.js";

describe("repository locations", () => {
  test("refuses what git would read as an option or a remote helper", () => {
    for (const location of ["-uevil", "--upload-pack=touch /tmp/pwned", "ext::sh -c touch% /tmp/pwned", "fd::3", "ftp://host/x.git", "", "a\nb"]) {
      assert.throws(() => validateRepoLocation(location), SourceError, location);
    }
  });

  test("accepts the usual addresses and paths", () => {
    for (const location of ["https://github.com/team/faces.git", "git@github.com:team/faces.git", "ssh://git@host/faces", "git://host/faces", "file:///srv/faces", "./faces", "/srv/faces"]) {
      assert.doesNotThrow(() => validateRepoLocation(location), location);
    }
  });

  test("tells remote addresses from local folders", () => {
    assert.equal(isRemoteLocation("https://h/x.git"), true);
    assert.equal(isRemoteLocation("git@github.com:team/faces.git"), true);
    assert.equal(isRemoteLocation("./faces"), false);
    assert.equal(isRemoteLocation("/srv/faces"), false);
    assert.equal(isRemoteLocation("faces/with:colon"), false);
  });

  test("moves a password out of an https URL into the credentials", () => {
    const { url, credentials } = splitUrlCredentials("https://bot:t%40ken@git.example.com/faces.git", {});
    assert.equal(url, "https://git.example.com/faces.git");
    assert.deepEqual(credentials, { username: "bot", password: "t@ken" });
  });

  test("opening a refused location fails before git runs", async () => {
    const store = temporaryFolder();
    try {
      await assert.rejects(
        GitSource.open("ext::sh -c touch% /tmp/faceops-pwned", { store: new StoreLayout(store.path), log: silentLogger(), env: process.env }),
        /remote helper/,
      );
      assert.equal(existsSync("/tmp/faceops-pwned"), false);
      assert.equal(existsSync(join(store.path, "sources")), false);
    } finally {
      store.dispose();
    }
  });
});

describe("a remote repository cloned into the store", () => {
  const origin = new TestRepo();
  const store = temporaryFolder();
  const layout = new StoreLayout(store.path);
  after(() => {
    origin.dispose();
    store.dispose();
  });

  test("clones, then fetches new commits on the next open, and lists commits since a commit", async () => {
    origin.write("Alice/a.txt", "one");
    const first = origin.commit("first");
    const url = `file://${origin.path}`;
    const source = await GitSource.open(url, { store: layout, log: silentLogger(), env: process.env });
    assert.equal(await source.resolveBranch("main"), first);
    assert.equal(source.workTree, null);
    assert.ok(source.gitDir.startsWith(store.path), "the clone lives in the store");
    await source.close();

    origin.write("Alice/b.txt", "two");
    const second = origin.commit("second");
    origin.write("Bob/c.txt", "three");
    const third = origin.commit("third");
    const reopened = await GitSource.open(url, { store: layout, log: silentLogger(), env: process.env });
    assert.equal(await reopened.resolveBranch("main"), third);
    const since = await reopened.commitsSince(first, "main");
    assert.deepEqual(
      since.map((commit) => [commit.sha, commit.subject]),
      [
        [second, "second"],
        [third, "third"],
      ],
    );
    const tree = await reopened.listTree(second);
    assert.deepEqual(tree.map((entry) => entry.path), ["Alice/a.txt", "Alice/b.txt"]);
    await assert.rejects(reopened.resolveBranch("develop"), /no branch "develop"; its branches are: main/);
    await assert.rejects(reopened.resolveCommit("--output=/tmp/x"), SourceError);
    await reopened.close();
  });
});

describe("cloning over HTTP with credentials", () => {
  const origin = new TestRepo();
  const serverRoot = temporaryFolder();
  const store = temporaryFolder();
  const secret = "s3cret-token-value";
  after(() => {
    origin.dispose();
    serverRoot.dispose();
    store.dispose();
  });

  test("sends the token through GIT_ASKPASS, never logs it and never stores it", async () => {
    origin.write("Alice/a.txt", "one");
    const head = origin.commit("first");
    execFileSync("git", ["clone", "--quiet", "--bare", origin.path, join(serverRoot.path, "faces.git")]);
    const server = await startGitHttpServer(serverRoot.path, { username: "ci-bot", password: secret });
    const logs = new PassThrough();
    let logged = "";
    logs.on("data", (chunk: Buffer) => (logged += chunk.toString()));
    const log = createLogger({ level: "trace", format: "json", destination: logs });
    try {
      const layout = new StoreLayout(store.path);
      await assert.rejects(
        GitSource.open(`${server.url}/faces.git`, { store: layout, log, env: process.env, credentials: { username: "ci-bot", password: "wrong" } }),
        (error: Error) => error instanceof SourceError && !error.message.includes("wrong") && /cannot clone/.test(error.message),
      );

      const source = await GitSource.open(`${server.url}/faces.git`, {
        store: layout,
        log,
        env: process.env,
        credentials: { username: "ci-bot", password: secret },
      });
      assert.equal(await source.resolveBranch("main"), head);
      const expected = `Basic ${Buffer.from(`ci-bot:${secret}`).toString("base64")}`;
      assert.ok(server.authorizations.includes(expected), "git authenticated with the token");
      assert.ok(!readFileSync(join(source.gitDir, "config"), "utf8").includes(secret), "the clone's config holds no secret");
      await source.close();

      // A token embedded in the URL is used the same way and stripped from what is stored and shown.
      const embedded = await GitSource.open(`http://ci-bot:${secret}@${server.url.slice("http://".length)}/faces.git`, {
        store: new StoreLayout(join(store.path, "second")),
        log,
        env: process.env,
      });
      assert.equal(await embedded.resolveBranch("main"), head);
      assert.ok(!embedded.location.includes(secret));
      assert.ok(!readFileSync(join(embedded.gitDir, "config"), "utf8").includes(secret));
      await embedded.close();
      assert.ok(logged.length > 0, "something was logged");
      assert.ok(!logged.includes(secret), "the token never appears in the logs");
    } finally {
      await server.close();
    }
  });
});
