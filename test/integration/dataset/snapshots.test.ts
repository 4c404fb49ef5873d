import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { checkDataset } from "../../../src/dataset/check.js";
import { configSchema } from "../../../src/config/schema.js";
import { silentLogger } from "../../../src/log.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPeople, lfwPhotos } from "../../helpers/lfw.js";
import { basename } from "node:path";

/** Several commits of one real repository of LFW faces, checked one after the other with one store. */

const dataset = configSchema.parse({}).dataset;

describe("dataset snapshots across commits", () => {
  const repo = new TestRepo();
  const storeFolder = temporaryFolder();
  const store = new StoreLayout(storeFolder.path);
  const check = (commit?: string) => checkDataset({ location: repo.path, commit, dataset, store, log: silentLogger(), env: process.env });
  const people = lfwPeople(30).slice(0, 10);
  after(() => {
    repo.dispose();
    storeFolder.dispose();
  });

  test("split stability: a commit that adds 50 photos and removes 10 moves no remaining photo", async () => {
    for (const person of people.slice(0, 8)) for (const photo of lfwPhotos(person).slice(0, 15)) repo.copy(photo, `${person}/${basename(photo)}`);
    const first = repo.commit("8 people, 15 photos each");
    const before = await check(first);
    assert.equal(before.images.length, 120);

    // 50 more: 5 more photos of each of the 8 people, and 10 of a new person.
    for (const person of people.slice(0, 8)) for (const photo of lfwPhotos(person).slice(15, 20)) repo.copy(photo, `${person}/${basename(photo)}`);
    for (const photo of lfwPhotos(people[8] as string).slice(0, 10)) repo.copy(photo, `${people[8]}/${basename(photo)}`);
    // 10 fewer: the second photo of each of five people, and the third of five (in name order).
    const removed = people.slice(0, 5).flatMap((person) => lfwPhotos(person).slice(1, 3).map((photo) => `${person}/${basename(photo)}`));
    for (const path of removed) repo.remove(path);
    const second = repo.commit("50 added, 10 removed");
    const afterwards = await check(second);
    assert.equal(afterwards.images.length, 160);

    const splitBefore = new Map(before.images.map((image) => [image.path, image.split]));
    let compared = 0;
    for (const image of afterwards.images) {
      const previous = splitBefore.get(image.path);
      if (previous === undefined) continue;
      assert.equal(image.split, previous, `${image.path} moved from ${previous} to ${image.split}`);
      compared++;
    }
    assert.equal(compared, 110);
    // Every person still has photos in both splits.
    for (const label of afterwards.labels) {
      const splits = new Set(afterwards.images.filter((image) => image.label === label).map((image) => image.split));
      assert.deepEqual([...splits].sort(), ["test", "train"], label);
    }
  });

  test("fingerprint: a README-only commit or a renamed file keeps it; moving a photo to another person changes it", async () => {
    const base = await check();
    repo.write("README.md", "# Faces of the team\n");
    const readme = await check(repo.commit("docs only"));
    assert.equal(readme.fingerprint, base.fingerprint);
    assert.notEqual(readme.commit, base.commit);

    const someone = people[0] as string;
    const photo = base.images.find((image) => image.label === someone)?.path as string;
    repo.move(photo, `${someone}/renamed.jpg`);
    const renamed = await check(repo.commit("rename a photo"));
    assert.equal(renamed.fingerprint, base.fingerprint);

    repo.move(`${someone}/renamed.jpg`, `${people[1]}/moved.jpg`);
    const moved = await check(repo.commit("file a photo under someone else"));
    assert.notEqual(moved.fingerprint, base.fingerprint);
    assert.equal(moved.images.length, base.images.length);
  });

  test("incremental: re-checking decodes nothing; one new photo decodes exactly one", async () => {
    const again = await check();
    assert.equal(again.stats.decoded, 0);
    assert.equal(again.stats.read, 0, "known git blobs are not even read");
    assert.equal(again.stats.cached, again.images.length);

    const newcomer = lfwPhotos(people[9] as string)[0] as string;
    repo.copy(newcomer, `${people[0]}/new-photo.jpg`);
    const added = await check(repo.commit("one new photo"));
    assert.equal(added.stats.decoded, 1);
    assert.equal(added.images.length, again.images.length + 1);
  });

  test("an older commit can be re-checked at any time and gives its old snapshot", async () => {
    const commits = repo.git("rev-list", "--reverse", "HEAD").trim().split("\n");
    const first = await check(commits[0]);
    assert.equal(first.images.length, 120);
    assert.equal(first.commit, commits[0]);
    assert.equal(first.stats.decoded, 0);
  });
});
