import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { checkDataset } from "../../../src/dataset/check.js";
import type { DatasetManifest } from "../../../src/dataset/manifest.js";
import { configSchema } from "../../../src/config/schema.js";
import { silentLogger } from "../../../src/log.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { buildCorpus, expectedLabels, expectedRejects } from "../../helpers/bad-file-corpus.js";

const datasetConfig = configSchema.parse({}).dataset;

function rejectsByPath(manifest: DatasetManifest): Record<string, string> {
  return Object.fromEntries(manifest.rejected.map((rejected) => [rejected.path, rejected.reason]));
}

function assertCorpusVerdicts(manifest: DatasetManifest): void {
  assert.deepEqual(rejectsByPath(manifest), expectedRejects);
  assert.deepEqual(manifest.labels, expectedLabels);
  assert.deepEqual(manifest.excludedLabels.map((entry) => [entry.label, entry.photos]), [["Carol", 3]]);
  // Every accepted image is a real, decodable photo in a valid label folder.
  for (const image of manifest.images) {
    assert.ok(expectedLabels.includes(image.label), image.path);
    assert.ok(!(image.path in expectedRejects), image.path);
  }
  const accepted = manifest.images.map((image) => image.path);
  assert.ok(accepted.includes("Att_Subject/1.pgm"), "a valid PGM is accepted");
  assert.equal(manifest.images.find((image) => image.path === "Att_Subject/1.pgm")?.width, 92);
  assert.ok(accepted.includes("Alice/Alice_0001.jpg"), "the first copy of a duplicated photo is kept");
  assert.equal(manifest.usable, true);
  // Hidden files and the README are ignored without a word.
  for (const silent of ["README.md", ".gitattributes", "Alice/.DS_Store", "Bob/.gitkeep"]) {
    assert.ok(!accepted.includes(silent) && !(silent in rejectsByPath(manifest)), silent);
  }
  const messageOf = (path: string) => manifest.rejected.find((rejected) => rejected.path === path)?.message ?? "";
  assert.match(messageOf("Alice/large-file.jpg"), /git lfs pull/);
  assert.match(messageOf("Alice/passwd.jpg"), /\/etc\/passwd.*outside the repository/);
  assert.match(messageOf("Alice/bomb.png"), /100000x100000.*without decoding/);
  assert.match(messageOf("Alice/tiny.png"), /1x1/);
  assert.match(messageOf("Alice/shared.jpg"), /"Bob" \(Bob\/shared\.jpg\)/);
  assert.match(messageOf("Carol/Carol_0001.jpg"), /3 valid photos; at least 5/);
}

describe("dataset check on a git repository with every kind of bad file", () => {
  const repo = new TestRepo();
  const store = temporaryFolder();
  let manifest: DatasetManifest;
  before(async () => {
    await buildCorpus(repo);
    repo.commit("photos, good and bad");
    manifest = await checkDataset({
      location: repo.path,
      dataset: datasetConfig,
      store: new StoreLayout(store.path),
      log: silentLogger(),
      env: process.env,
    });
  });
  after(() => {
    repo.dispose();
    store.dispose();
  });

  test("gives each bad file its reason code and a sentence", () => assertCorpusVerdicts(manifest));

  test("records the commit and never touches the working tree", () => {
    assert.equal(manifest.commit, repo.git("rev-parse", "HEAD").trim());
    assert.equal(repo.git("status", "--porcelain"), "");
  });

  test("decodes each distinct photo once and never the files refused from their header", () => {
    // 17 accepted photos, 3 of Carol's, the truncated JPEG and the photo filed under two people
    // (one decode for both copies). The bomb, the 1x1 PNG, the SVG, the pointer, the text file,
    // the duplicate of Alice_0001 and files rejected for their place are never decoded.
    assert.equal(manifest.images.length, 17);
    assert.equal(manifest.stats.decoded, 22);
  });
});

describe("dataset check on a plain folder", () => {
  const folder = new TestRepo("faceops-folder-");
  const store = temporaryFolder();
  after(() => {
    folder.dispose();
    store.dispose();
  });

  test("gives the same verdicts as the git commit", async () => {
    await buildCorpus(folder);
    // A plain folder, not a repository: drop the .git folder the helper made.
    rmSync(join(folder.path, ".git"), { recursive: true, force: true });
    const manifest = await checkDataset({
      location: folder.path,
      dataset: datasetConfig,
      store: new StoreLayout(store.path),
      log: silentLogger(),
      env: process.env,
    });
    assert.equal(manifest.commit, null);
    assertCorpusVerdicts(manifest);
  });
});
