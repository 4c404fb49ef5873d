import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { checkDataset } from "../../../src/dataset/check.js";
import type { DatasetManifest } from "../../../src/dataset/manifest.js";
import { decodePath, escapeInvalidUtf8, isUtf8, unquoteGitPath } from "../../../src/dataset/path-bytes.js";
import { configSchema } from "../../../src/config/schema.js";
import { silentLogger } from "../../../src/log.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/**
 * Folder names that are not UTF-8. git (and Linux) accept any bytes in a name; "José" written in
 * Latin-1 is J o s 0xE9, "Josè" is J o s 0xE8. Decoded lossily both are "Jos\ufffd": the two people
 * merged into one label, and with the same file names in both folders one person's photos replaced
 * the other's without a word. Each must be refused as invalid_label, by its own name.
 */

const datasetConfig = configSchema.parse({}).dataset;
const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : Buffer.from(part))));
const joseLatin1 = bytes("Jos", [0xe9]);
const joseGraveLatin1 = bytes("Jos", [0xe8]);
/** A valid folder holding a file whose name is not UTF-8 (an overlong "/" in it, C0 AF). */
const strayName = bytes("Ada/photo", [0xc0, 0xaf], ".jpg");

/** Who is in which folder: five photos each, and the same file names in both Latin-1 folders. */
const people: Array<{ folder: Buffer; person: string }> = [
  { folder: Buffer.from("Bill_Gates"), person: "Bill_Gates" },
  { folder: Buffer.from("Hans_Blix"), person: "Hans_Blix" },
  { folder: joseLatin1, person: "Jose_Maria_Aznar" },
  { folder: joseGraveLatin1, person: "Colin_Powell" },
];

function expectVerdicts(manifest: DatasetManifest): void {
  assert.deepEqual(manifest.labels, ["Bill_Gates", "Hans_Blix"], "no merged label like Jos\ufffd");
  assert.equal(manifest.images.length, 10);
  for (const image of manifest.images) assert.ok(!image.path.includes("\ufffd") && !image.label.includes("\ufffd"), image.path);
  const rejected = (prefix: string) => manifest.rejected.filter((entry) => entry.path.startsWith(prefix));
  for (const folder of ["Jos\\xe9", "Jos\\xe8"]) {
    const refused = rejected(`${folder}/`);
    assert.deepEqual(refused.map((entry) => entry.path).sort(), [1, 2, 3, 4, 5].map((n) => `${folder}/${n}.jpg`), `every photo of ${folder} is listed`);
    for (const entry of refused) {
      assert.equal(entry.reason, "invalid_label");
      assert.equal(entry.message, `the folder name is not valid UTF-8 (its bytes: "${folder}"); names are text in UTF-8 everywhere today, so rename the folder`);
    }
  }
  const stray = manifest.rejected.find((entry) => entry.path === "Ada/photo\\xc0\\xaf.jpg");
  assert.equal(stray?.reason, "invalid_name");
  assert.match(stray?.message ?? "", /the file name is not valid UTF-8 \(its bytes: "photo\\xc0\\xaf\.jpg"\)/);
  assert.equal(manifest.rejected.length, 11);
}

describe("folder names that are not UTF-8, in a git commit built with git's plumbing", () => {
  const repo = new TestRepo();
  const store = temporaryFolder();
  let manifest: DatasetManifest;
  before(async () => {
    const git = (args: string[], input?: Buffer) => execFileSync("git", args, { cwd: repo.path, input, encoding: "utf8" }).trim();
    const blob = (path: string) => git(["hash-object", "-w", "--", path]);
    const tree = (entries: Array<{ mode: string; type: string; id: string; name: Buffer }>) =>
      git(["mktree", "-z"], Buffer.concat(entries.map((entry) => Buffer.concat([Buffer.from(`${entry.mode} ${entry.type} ${entry.id}\t`), entry.name, Buffer.from([0])]))));
    const top: Array<{ mode: string; type: string; id: string; name: Buffer }> = [];
    for (const { folder, person } of people) {
      const photos = lfwPhotos(person).slice(0, 5).map((photo, index) => ({ mode: "100644", type: "blob", id: blob(photo), name: Buffer.from(`${index + 1}.jpg`) }));
      top.push({ mode: "040000", type: "tree", id: tree(photos), name: folder });
    }
    const stray = { mode: "100644", type: "blob", id: blob(lfwPhotos("Hans_Blix")[9] as string), name: strayName.subarray(4) };
    top.push({ mode: "040000", type: "tree", id: tree([stray]), name: Buffer.from("Ada") });
    const commit = git(["commit-tree", tree(top), "-m", "names in Latin-1"]);
    git(["update-ref", "refs/heads/main", commit]);
    // The tree really holds both byte sequences, distinct.
    const listed = execFileSync("git", ["ls-tree", "-z", "--name-only", "HEAD"], { cwd: repo.path });
    assert.ok(listed.includes(Buffer.concat([joseLatin1, Buffer.from([0])])) && listed.includes(Buffer.concat([joseGraveLatin1, Buffer.from([0])])));
    manifest = await checkDataset({ location: repo.path, dataset: datasetConfig, store: new StoreLayout(store.path), log: silentLogger(), env: process.env });
  });
  after(() => {
    repo.dispose();
    store.dispose();
  });

  test("each folder is refused as invalid_label, named by its escaped bytes; nobody's photos merge or vanish", () => expectVerdicts(manifest));
});

describe("folder names that are not UTF-8, in a plain folder", () => {
  const folder = temporaryFolder("faceops-folder-");
  const store = temporaryFolder();
  after(() => {
    folder.dispose();
    store.dispose();
  });

  test("each folder is refused as invalid_label, as in a git commit (the check used to fail on the lossy name)", async () => {
    const root = Buffer.from(`${folder.path}/`);
    for (const { folder: name, person } of people) {
      mkdirSync(Buffer.concat([root, name]));
      lfwPhotos(person)
        .slice(0, 5)
        .forEach((photo, index) => copyFileSync(photo, Buffer.concat([root, name, Buffer.from(`/${index + 1}.jpg`)])));
    }
    mkdirSync(join(folder.path, "Ada"));
    copyFileSync(lfwPhotos("Hans_Blix")[9] as string, Buffer.concat([root, strayName]));
    const manifest = await checkDataset({ location: folder.path, dataset: datasetConfig, store: new StoreLayout(store.path), log: silentLogger(), env: process.env });
    assert.equal(manifest.commit, null);
    expectVerdicts(manifest);
  });
});

describe("path bytes", () => {
  test("isUtf8 follows RFC 3629: no overlong forms, surrogates or code points past U+10FFFF", () => {
    const valid = [[], [0x41], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbf, 0xbd], [0xf4, 0x8f, 0xbf, 0xbf]];
    const invalid = [[0xe9], [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xc3], [0xe2, 0x82], [0xff], [0xfe]];
    for (const sequence of valid) assert.equal(isUtf8(Buffer.from(sequence)), true, JSON.stringify(sequence));
    for (const sequence of invalid) assert.equal(isUtf8(Buffer.from(sequence)), false, JSON.stringify(sequence));
  });

  test("escapeInvalidUtf8 keeps valid text and shows every other byte, so distinct bytes stay distinct", () => {
    assert.equal(escapeInvalidUtf8(bytes("Zoë/", [0xff, 0xfe], "x")), "Zoë/\\xff\\xfex");
    assert.equal(escapeInvalidUtf8(bytes([0xe2, 0x82], "€")), "\\xe2\\x82€");
    assert.notEqual(escapeInvalidUtf8(joseLatin1), escapeInvalidUtf8(joseGraveLatin1));
    assert.deepEqual(decodePath(Buffer.from("Zoë")), { text: "Zoë", utf8: true });
    assert.deepEqual(decodePath(joseLatin1), { text: "Jos\\xe9", utf8: false });
  });

  test("unquoteGitPath reads git's quoted paths back to their bytes", () => {
    assert.deepEqual(unquoteGitPath("Ada/1.jpg"), Buffer.from("Ada/1.jpg"));
    assert.deepEqual(unquoteGitPath('"Jos\\351/1.jpg"'), bytes("Jos", [0xe9], "/1.jpg"));
    assert.deepEqual(unquoteGitPath('"Zo\\303\\253/a\\"b\\\\c\\td\\n.jpg"'), Buffer.from('Zoë/a"b\\c\td\n.jpg'));
    assert.throws(() => unquoteGitPath('"unterminated'), /malformed quoted path/);
    assert.throws(() => unquoteGitPath('"bad \\q escape"'), /unknown escape/);
  });
});
