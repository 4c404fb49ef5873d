import assert from "node:assert/strict";
import { basename } from "node:path";
import { after, describe, test } from "node:test";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { runCli } from "../../helpers/cli.js";
import { lfwPhotos } from "../../helpers/lfw.js";

describe("faceops dataset check (the CLI contract)", () => {
  const repo = new TestRepo();
  const store = temporaryFolder();
  const env = { FACEOPS_STORE: store.path };
  for (const person of ["Bill_Gates", "Hans_Blix"]) for (const photo of lfwPhotos(person).slice(0, 8)) repo.copy(photo, `${person}/${basename(photo)}`);
  repo.write("Bill_Gates/notes.jpg", "not a photo");
  const commit = repo.commit("two people");
  after(() => {
    repo.dispose();
    store.dispose();
  });

  test("--json prints one manifest document on stdout and exits 0 when usable", () => {
    const result = runCli(["dataset", "check", repo.path, "--json"], { env });
    assert.equal(result.status, 0, result.stderr);
    const manifest = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.match(manifest.fingerprint as string, /^[0-9a-f]{64}$/);
    assert.equal(manifest.commit, commit);
    assert.deepEqual(manifest.labels, ["Bill_Gates", "Hans_Blix"]);
    const images = manifest.images as Array<Record<string, unknown>>;
    assert.equal(images.length, 16);
    assert.deepEqual(Object.keys(images[0] as object).sort(), ["facesFound", "height", "label", "path", "sha256", "split", "width"]);
    assert.equal((images[0] as { width: number }).width, 250);
    assert.deepEqual(manifest.rejected, [
      { path: "Bill_Gates/notes.jpg", reason: "not_an_image", message: "the content is not in any image format faceops reads" },
    ]);
    // Logs go to stderr as JSON lines when it is not a terminal.
    const lines = result.stderr.trim().split("\n").filter(Boolean);
    assert.ok(lines.length > 0 && lines.every((line) => JSON.parse(line) !== null));
  });

  test("the default output is a summary table", () => {
    const result = runCli(["dataset", "check", repo.path, "--log-level", "warn"], { env });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Photos +16 accepted \(\d+ train, \d+ test\) in 2 labels; 1 rejected/);
    assert.match(result.stdout, /LABEL +TRAIN +TEST\nBill_Gates +\d+ +\d+\nHans_Blix/);
    assert.match(result.stdout, /not_an_image +1 +not an image/);
    assert.match(result.stdout, /0 decoded, 17 from cache/);
  });

  test("--commit reads an older commit; exit 2 when fewer than two people are usable", () => {
    repo.write("Bill_Gates/more.txt", "x");
    for (const photo of lfwPhotos("Hans_Blix").slice(0, 8)) repo.remove(`Hans_Blix/${basename(photo)}`);
    repo.commit("only one person left");
    const now = runCli(["dataset", "check", repo.path, "--json"], { env });
    assert.equal(now.status, 2, now.stderr);
    assert.equal((JSON.parse(now.stdout) as { usable: boolean }).usable, false);
    const before = runCli(["dataset", "check", repo.path, "--commit", commit.slice(0, 10), "--json"], { env });
    assert.equal(before.status, 0, before.stderr);
    assert.equal((JSON.parse(before.stdout) as { commit: string }).commit, commit);
  });

  test("errors exit 1 with one clear line", () => {
    const missing = runCli(["dataset", "check", "/nonexistent/faces"], { env });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /dataset "\/nonexistent\/faces" is not a folder or a git repository/);
    const badCommit = runCli(["dataset", "check", repo.path, "--commit", "deadbeef"], { env });
    assert.equal(badCommit.status, 1);
    assert.match(badCommit.stderr, /has no commit "deadbeef"/);
    const refused = runCli(["dataset", "check", "--", "--upload-pack=touch /tmp/x"], { env });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /would read it as an option/);
    const badConfig = runCli(["dataset", "check", repo.path], { env: { ...env, FACEOPS_DATASET_TEST_FRACTION: "lots" } });
    assert.equal(badConfig.status, 1);
    assert.match(badConfig.stderr, /dataset\.testFraction = "lots" \(from env FACEOPS_DATASET_TEST_FRACTION\)/);
  });
});

describe("faceops config print", () => {
  test("shows the effective configuration and where each value came from", () => {
    const folder = temporaryFolder();
    try {
      const result = runCli(["config", "print", "--set", "dataset.minSide=48"], {
        env: { FACEOPS_STORE: "/srv/faceops", FACEOPS_GIT_PASSWORD: "hunter2" },
        cwd: folder.path,
      });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^store: \/srv\/faceops # from env FACEOPS_STORE$/m);
      assert.match(result.stdout, /^ {2}minSide: 48 # from --set dataset.minSide$/m);
      assert.match(result.stdout, /^ {2}testFraction: 0.2$/m);
      assert.ok(!result.stdout.includes("hunter2") && !result.stderr.includes("hunter2"));
      const json = runCli(["config", "print", "--json"], { cwd: folder.path });
      assert.equal((JSON.parse(json.stdout) as { dataset: { maxBytes: number } }).dataset.maxBytes, 20_000_000);
    } finally {
      folder.dispose();
    }
  });
});
