import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { describe, test } from "node:test";
import { configKeys, envNameForKey } from "../../src/config/load.js";
import { rejectReasons } from "../../src/dataset/rejects.js";
import { headingAnchors, isExternal, markdownLinks } from "../helpers/markdown.js";

const root = resolve(import.meta.dirname, "../..");
const read = (path: string): string => readFileSync(join(root, path), "utf8");
const readme = read("README.md");

describe("the README is the front door", () => {
  test("its test command is the one .ci/run runs", () => {
    const ci = read(".ci/run");
    assert.match(readme, /^npm test +#/m);
    assert.match(ci, /^npm test$/m);
  });

  test("it links every page of docs/", () => {
    const linked = new Set(markdownLinks(readme).map(({ target }) => posix.normalize(target.split("#")[0]!)));
    for (const page of readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md"))) {
      assert.ok(linked.has(`docs/${page}`), `README.md does not link docs/${page}`);
    }
  });
});

describe("the reference in docs/ is complete", () => {
  test("docs/configuration.md documents every configuration key with its environment variable", () => {
    const configuration = read("docs/configuration.md");
    for (const key of configKeys()) {
      const row = new RegExp(`^\\| \`${key.replace(/\./g, "\\.")}\` \\| \`${envNameForKey(key)}\` \\|`, "m");
      assert.match(configuration, row, `docs/configuration.md has no row for ${key}`);
    }
  });

  test("docs/dataset.md documents every reject reason code", () => {
    const dataset = read("docs/dataset.md");
    for (const reason of Object.keys(rejectReasons)) {
      assert.match(dataset, new RegExp(`^\\| \`${reason}\` \\|`, "m"), `docs/dataset.md has no row for ${reason}`);
    }
  });
});

/**
 * The files a clone has: those git tracks, and new ones it does not ignore (so a page written but not
 * yet committed is checked too). A file that exists here only because it is built or ignored (dist/,
 * node_modules/, a local .faceops/) is not among them: a link to it is broken for everyone else.
 */
function filesOfAClone(): Set<string> {
  const listing = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" });
  return new Set(listing.split("\0").filter((path) => path !== ""));
}

/** The folders a path lies in: `a/b/c.md` is in `a` and `a/b`. */
function ancestors(path: string): string[] {
  const parts = path.split("/").slice(0, -1);
  return parts.map((_, depth) => parts.slice(0, depth + 1).join("/"));
}

describe("the documentation's links lead somewhere", () => {
  const files = filesOfAClone();
  const folders = new Set([...files].flatMap((path) => ancestors(path)));
  // The repository's own pages; the specifications vendored under test/spec/ are kept as published.
  const pages = [...files].filter((path) => path.endsWith(".md") && !path.startsWith("test/spec/")).sort();

  test("the pages checked include the README and docs/", () => {
    assert.ok(pages.includes("README.md"));
    assert.ok(pages.some((page) => page.startsWith("docs/")), `no page of docs/ among ${pages.join(", ")}`);
  });

  test("every relative link resolves to a file of the repository, and every #anchor to a heading", () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const { target, line } of markdownLinks(read(page))) {
        if (isExternal(target)) continue;
        const [pathPart = "", anchor] = decodeURI(target).split("#", 2);
        const path = pathPart === "" ? page : posix.normalize(posix.join(dirname(page), pathPart)).replace(/\/$/, "");
        const where = `${page}:${line} -> ${target}`;
        if (path.startsWith("../../")) broken.push(`${where}: outside the repository`);
        else if (!files.has(path) && !folders.has(path)) broken.push(`${where}: ${path} is not in the repository`);
        else if (anchor !== undefined && path.endsWith(".md") && !headingAnchors(read(path)).has(anchor)) {
          broken.push(`${where}: ${path} has no heading with the anchor #${anchor}`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  test("every test file a page names in code exists (tests move between tiers; the pages follow)", () => {
    const stale: string[] = [];
    for (const page of pages) {
      for (const [index, text] of read(page).split("\n").entries()) {
        for (const [path] of text.matchAll(/\btest\/[\w./-]+\.test\.ts\b/g)) if (!files.has(path)) stale.push(`${page}:${index + 1}: ${path}`);
      }
    }
    assert.deepEqual(stale, []);
  });
});

describe("npm and the repository's settings", () => {
  test("npm finds no setting it does not know in the repository (every npm command would warn)", () => {
    // Only the repository's .npmrc is under test: the user's and the machine's npm configuration and
    // the npm_config_* variables of an enclosing `npm test` are left out.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_config_/i.test(name)));
    const elsewhere = mkdtempSync(join(tmpdir(), "faceops-npmrc-"));
    const npm = spawnSync("npm", ["config", "list"], {
      cwd: root,
      encoding: "utf8",
      // Files that do not exist: npm reads no user or global configuration then.
      env: { ...env, npm_config_userconfig: join(elsewhere, "user"), npm_config_globalconfig: join(elsewhere, "global"), NO_COLOR: "1" },
    });
    rmSync(elsewhere, { recursive: true });
    assert.equal(npm.status, 0, npm.stderr);
    assert.doesNotMatch(npm.stderr, /unknown/i);
  });

  test("onnxruntime-node's CUDA download stays skipped: denied to npm 11, and the variable for npm 10 in CI", () => {
    const manifest = JSON.parse(read("package.json")) as { allowScripts?: Record<string, boolean> };
    assert.equal(manifest.allowScripts?.["onnxruntime-node"], false, "package.json's allowScripts must deny onnxruntime-node");
    assert.match(read(".ci/run"), /^export ONNXRUNTIME_NODE_INSTALL=skip$/m);
  });
});
