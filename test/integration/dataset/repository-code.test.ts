import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { configSchema } from "../../../src/config/schema.js";
import { DatasetWatch } from "../../../src/dataset/watch.js";
import { checkDataset, withDataset } from "../../../src/dataset/check.js";
import { seedExampleRepository } from "../../../src/dataset/seed.js";
import { GitSource } from "../../../src/dataset/source.js";
import { silentLogger } from "../../../src/log.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { runCli } from "../../helpers/cli.js";
import { startGitHttpServer } from "../../helpers/git-http-server.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";

/**
 * A face repository is data from whoever can push to it: nothing it configures may run. Each test
 * arms a real repository (or a store clone) with one trap for each way git runs a program its
 * configuration or hooks name; every trap leaves a marker file named after itself. The test runs
 * what faceops runs on it (dataset check, what train reads, the controller's watch) and expects no
 * marker at all.
 */

const datasetConfig = configSchema.parse({}).dataset;
const examples = resolve(import.meta.dirname, "../../../examples/faces");
const log = silentLogger();
const env = { PATH: process.env.PATH, HOME: process.env.HOME };

class Traps {
  private readonly folder = temporaryFolder("faceops-traps-");
  readonly markers = join(this.folder.path, "markers");
  private readonly scripts = join(this.folder.path, "scripts");

  constructor() {
    mkdirSync(this.markers);
    mkdirSync(this.scripts);
  }

  /** A shell command that leaves the marker `name`. */
  command(name: string): string {
    return `touch ${join(this.markers, name)}`;
  }

  /** An executable that leaves the marker `name` (for settings git runs without a shell). */
  script(name: string, then = "true"): string {
    const path = join(this.scripts, name);
    writeFileSync(path, `#!/bin/sh\n${this.command(name)}\n${then}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** A hooks folder in which every hook faceops could cause leaves a marker. */
  hooks(folder: string, prefix: string): void {
    mkdirSync(folder, { recursive: true });
    const names = ["post-index-change", "reference-transaction", "pre-auto-gc", "post-checkout", "pre-commit", "commit-msg", "post-commit", "post-rewrite", "fsmonitor-watchman"];
    for (const name of names) {
      writeFileSync(join(folder, name), `#!/bin/sh\n${this.command(`${prefix}-${name}`)}\n`);
      chmodSync(join(folder, name), 0o755);
    }
  }

  fired(): string[] {
    return readdirSync(this.markers).sort();
  }

  dispose(): void {
    this.folder.dispose();
  }
}

/** Settings in a repository's own configuration that make git run a program. */
function armConfig(git: (...args: string[]) => string, traps: Traps, prefix: string): void {
  const set = (key: string, value: string) => git("config", "--add", key, value);
  set("core.fsmonitor", `${traps.command(`${prefix}-fsmonitor`)}; echo`);
  set("filter.trap.clean", `${traps.command(`${prefix}-filter-clean`)}; cat`);
  set("filter.trap.smudge", `${traps.command(`${prefix}-filter-smudge`)}; cat`);
  set("filter.trap.required", "true");
  set("filter.trap-process.process", traps.script(`${prefix}-filter-process`, "exit 1"));
  set("diff.trap.textconv", traps.script(`${prefix}-textconv`, 'cat "$1"'));
  set("diff.trap.command", traps.script(`${prefix}-diff-driver`));
  set("diff.external", traps.script(`${prefix}-diff-external`));
  set("log.showSignature", "true");
  set("gpg.program", traps.script(`${prefix}-gpg`, "exit 1"));
  set("core.pager", traps.command(`${prefix}-pager`));
  set("pager.log", traps.command(`${prefix}-pager-log`));
  set("core.editor", traps.command(`${prefix}-editor`));
  set("core.sshCommand", `${traps.command(`${prefix}-ssh-command`)}; false`);
  set("core.gitProxy", traps.script(`${prefix}-git-proxy`, "exit 1"));
  set("core.askPass", traps.script(`${prefix}-askpass`, "echo nobody"));
  set("credential.helper", `!${traps.command(`${prefix}-credential-helper`)}; true`);
  set("core.alternateRefsCommand", traps.script(`${prefix}-alternate-refs`));
  set("protocol.ext.allow", "always");
  set("gc.auto", "1");
}

/** Two people, a README and attributes that send every photo through the trap drivers. */
function faceRepository(): TestRepo {
  const repo = new TestRepo("faceops-trapped-");
  for (const person of ["Hugo_Chavez", "Serena_Williams"]) {
    for (const name of readdirSync(join(examples, person)).slice(0, 6)) repo.copy(join(examples, person, name), `${person}/${name}`);
  }
  repo.write("README.md", "# faces\n");
  repo.write(".gitattributes", "*.jpg filter=trap-process diff=trap\nREADME.md filter=trap diff=trap\n");
  repo.commit("Two people");
  return repo;
}

/** Re-commits HEAD with a (bogus) signature, so that showing signatures has something to verify. */
function signHead(repo: TestRepo): void {
  const commit = repo.git("cat-file", "commit", "HEAD");
  const signed = commit.replace(/^(committer .*)$/m, "$1\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----");
  const sha = execFileSync("git", ["hash-object", "-t", "commit", "-w", "--stdin"], { cwd: repo.path, input: signed, encoding: "utf8" }).trim();
  repo.git("update-ref", "refs/heads/main", sha);
}

/** Work tree files with a new time and the same size: git status must hash them, through their filter. */
function touchWorkTree(repo: TestRepo): void {
  const later = new Date(Date.now() + 60_000);
  for (const person of ["Hugo_Chavez", "Serena_Williams"]) {
    for (const name of readdirSync(join(repo.path, person))) utimesSync(join(repo.path, person, name), later, later);
  }
  utimesSync(join(repo.path, "README.md"), later, later);
}

describe("nothing a local repository configures runs", () => {
  const traps = new Traps();
  const store = temporaryFolder("faceops-traps-store-");
  const layout = new StoreLayout(store.path);
  const repo = faceRepository();
  signHead(repo);
  armConfig((...args) => repo.git(...args), traps, "repo");
  traps.hooks(join(repo.path, ".git", "hooks"), "hook");
  touchWorkTree(repo);

  after(() => {
    traps.dispose();
    store.dispose();
    repo.dispose();
  });

  test("faceops dataset check <dir> (the command line, as reported)", () => {
    const cwd = temporaryFolder("faceops-traps-cwd-");
    try {
      const result = runCli(["dataset", "check", repo.path, "--store", join(store.path, "cli")], { cwd: cwd.path });
      assert.deepEqual(traps.fired(), []);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /Hugo_Chavez|2 (people|labels)/);
    } finally {
      cwd.dispose();
    }
  });

  test("dataset check, the photo reads of train, the controller's watch and the commit log", async () => {
    // Markers first: a trap that makes git fail must still be reported as the program it ran.
    const failure = await readEverything().then(
      () => null,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    assert.deepEqual(traps.fired(), []);
    if (failure) throw failure;
  });

  async function readEverything(): Promise<void> {
    const manifest = await checkDataset({ location: repo.path, dataset: datasetConfig, store: layout, log, env });
    assert.equal(manifest.labels.length, 2);
    const read = await withDataset({ location: repo.path, dataset: datasetConfig, store: layout, log, env }, async (checked, readPhoto) => {
      const sizes = await Promise.all(checked.images.map(async (image) => (await readPhoto(image)).length));
      return sizes.filter((size) => size > 0).length;
    });
    assert.equal(read, 12);
    const watch = new DatasetWatch({ location: repo.path, branch: "main", dataset: datasetConfig, store: layout, log, env, credentials: {} });
    assert.equal((await watch.look()).dataset.labels, 2);
    const source = await GitSource.open(repo.path, { store: layout, log, env });
    try {
      assert.equal((await source.commitsSince(null, "main")).length, 1);
      assert.equal(typeof (await source.hasUncommittedChanges()), "boolean");
    } finally {
      await source.close();
    }
  }
});

describe("a partial clone's lazy fetch runs no promisor remote", () => {
  const traps = new Traps();
  const store = temporaryFolder("faceops-traps-store-");
  const repo = new TestRepo("faceops-partial-");
  after(() => {
    traps.dispose();
    store.dispose();
    repo.dispose();
  });

  test("a photo whose blob is missing is not fetched through ext:: or a configured upload-pack", async () => {
    // A commit naming a blob the repository does not hold, as a partial clone has.
    const blob = execFileSync("git", ["hash-object", "--stdin"], { cwd: repo.path, input: "absent photo", encoding: "utf8" }).trim();
    const person = execFileSync("git", ["mktree", "--missing"], { cwd: repo.path, input: `100644 blob ${blob}\tmissing.jpg\n`, encoding: "utf8" }).trim();
    const root = execFileSync("git", ["mktree", "--missing"], { cwd: repo.path, input: `040000 tree ${person}\tAlice\n`, encoding: "utf8" }).trim();
    repo.git("update-ref", "refs/heads/main", repo.git("commit-tree", root, "-m", "partial").trim());
    repo.git("config", "core.repositoryformatversion", "1");
    repo.git("config", "extensions.partialClone", "origin");
    repo.git("config", "remote.origin.promisor", "true");
    repo.git("config", "protocol.ext.allow", "always");
    const attempt = async () => {
      const layout = new StoreLayout(store.path);
      await checkDataset({ location: repo.path, commit: "main", dataset: datasetConfig, store: layout, log, env }).catch(() => null);
      await new DatasetWatch({ location: repo.path, branch: "main", dataset: datasetConfig, store: layout, log, env, credentials: {} }).look().catch(() => null);
    };
    repo.git("config", "remote.origin.url", `ext::sh -c ${traps.command("ext-helper").replaceAll(" ", "% ")}`);
    await attempt();
    const other = new TestRepo("faceops-partial-origin-");
    try {
      repo.git("config", "remote.origin.url", other.path);
      repo.git("config", "remote.origin.uploadpack", `${traps.command("upload-pack")}; git-upload-pack`);
      await attempt();
    } finally {
      other.dispose();
    }
    assert.deepEqual(traps.fired(), []);
  });
});

describe("nothing a store clone's configuration names runs on a fetch", () => {
  const traps = new Traps();
  const origin = faceRepository();
  const store = temporaryFolder("faceops-traps-store-");
  const layout = new StoreLayout(store.path);
  after(() => {
    traps.dispose();
    origin.dispose();
    store.dispose();
  });

  test("hooks, upload-pack, alternate refs, auto gc: the watch fetches and checks, and nothing runs", async () => {
    const url = `file://${origin.path}`;
    const clone = layout.sourceClone(url);
    const first = await GitSource.open(url, { store: layout, log, env });
    await first.close();
    const git = (...args: string[]) => execFileSync("git", args, { cwd: clone, encoding: "utf8" });
    armConfig(git, traps, "clone");
    git("config", "core.hooksPath", join(clone, "trap-hooks"));
    traps.hooks(join(clone, "trap-hooks"), "clone-hook");
    git("config", "remote.origin.uploadpack", `${traps.command("clone-upload-pack")}; git-upload-pack`);
    git("config", `remote.${url}.uploadpack`, `${traps.command("clone-upload-pack-url")}; git-upload-pack`);
    writeFileSync(join(clone, "objects", "info", "alternates"), `${join(origin.path, ".git", "objects")}\n`);

    origin.write("Serena_Williams/extra.txt", "a new file to fetch");
    const tip = origin.commit("One more file");
    const watch = new DatasetWatch({ location: url, branch: "main", dataset: datasetConfig, store: layout, log, env, credentials: {} });
    assert.equal((await watch.look()).commit, tip);
    assert.deepEqual(traps.fired(), []);
  });

  test("a clone's ssh command, git proxy or ext:: URL rewrite is not used: the fetch fails instead", async () => {
    const cases = [
      { url: "ssh://127.0.0.1:1/faces.git", arm: ["core.sshCommand", `${traps.command("ssh-command")}; false`] },
      { url: "git://127.0.0.1:1/faces.git", arm: ["core.gitProxy", traps.script("git-proxy", "exit 1")] },
      { url: "file:///nonexistent/faces.git", arm: ["url.ext::sh -c touch% " + join(traps.markers, "ext-rewrite") + "% #.insteadOf", "file:///nonexistent/"] },
    ] as const;
    for (const { url, arm } of cases) {
      const clone = layout.sourceClone(url);
      execFileSync("git", ["clone", "--quiet", "--bare", origin.path, clone]);
      execFileSync("git", ["config", "remote.origin.url", url], { cwd: clone });
      execFileSync("git", ["config", arm[0], arm[1]], { cwd: clone });
      execFileSync("git", ["config", "protocol.ext.allow", "always"], { cwd: clone });
      await assert.rejects(GitSource.open(url, { store: layout, log, env, timeoutMs: 20_000 }), /cannot fetch/, url);
    }
    assert.deepEqual(traps.fired(), []);
  });
});

describe("a store clone's credential helper and askpass program do not run", () => {
  const traps = new Traps();
  const origin = faceRepository();
  const serverRoot = temporaryFolder();
  const store = temporaryFolder("faceops-traps-store-");
  after(() => {
    traps.dispose();
    origin.dispose();
    serverRoot.dispose();
    store.dispose();
  });

  test("faceops' own credentials are the only ones asked for", async () => {
    execFileSync("git", ["clone", "--quiet", "--bare", origin.path, join(serverRoot.path, "faces.git")]);
    const server = await startGitHttpServer(serverRoot.path, { username: "ci-bot", password: "s3cret" });
    try {
      const url = `${server.url}/faces.git`;
      const layout = new StoreLayout(store.path);
      const credentials = { username: "ci-bot", password: "s3cret" };
      await (await GitSource.open(url, { store: layout, log, env, credentials })).close();
      const clone = layout.sourceClone(url);
      execFileSync("git", ["config", "credential.helper", `!${traps.command("credential-helper")}; true`], { cwd: clone });
      execFileSync("git", ["config", `credential.${server.url}.helper`, `!${traps.command("credential-helper-url")}; true`], { cwd: clone });
      execFileSync("git", ["config", "core.askPass", traps.script("askpass", "echo ci-bot")], { cwd: clone });
      const again = await GitSource.open(url, { store: layout, log, env, credentials });
      await again.close();
      // Without credentials git would ask the clone's askpass program: it fails instead.
      await assert.rejects(GitSource.open(url, { store: layout, log, env }), /cannot fetch/);
    } finally {
      await server.close();
    }
    assert.deepEqual(traps.fired(), []);
  });
});

describe("creating the example repository runs no hook or filter of the user's git configuration", () => {
  const traps = new Traps();
  const home = temporaryFolder("faceops-traps-home-");
  const target = temporaryFolder("faceops-traps-seed-");
  after(() => {
    traps.dispose();
    home.dispose();
    target.dispose();
  });

  test("a global hooksPath, fsmonitor, template hooks and a filter on every file", async () => {
    traps.hooks(join(home.path, "hooks"), "global-hook");
    traps.hooks(join(home.path, "template", "hooks"), "template-hook");
    writeFileSync(join(home.path, "attributes"), "* filter=globaltrap\n");
    const global = (key: string, value: string) => execFileSync("git", ["config", "--file", join(home.path, ".gitconfig"), key, value]);
    global("core.hooksPath", join(home.path, "hooks"));
    global("init.templateDir", join(home.path, "template"));
    global("core.fsmonitor", `${traps.command("global-fsmonitor")}; echo`);
    global("core.attributesFile", join(home.path, "attributes"));
    global("filter.globaltrap.clean", `${traps.command("global-filter-clean")}; cat`);
    const path = join(target.path, "faces");
    assert.equal(await seedExampleRepository(path, { branch: "main", log, env: { PATH: process.env.PATH, HOME: home.path } }), true);
    assert.ok(existsSync(join(path, "Hugo_Chavez")));
    assert.deepEqual(traps.fired(), []);
  });
});
