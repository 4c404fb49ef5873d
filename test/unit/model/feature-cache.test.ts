import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, test } from "node:test";
import { FeatureCache, featureKey } from "../../../src/model/feature-cache.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const folder = temporaryFolder();
after(() => folder.dispose());

test("feature keys change with every input that changes the features", () => {
  const base = { backbone: "vgg16-a", crop: "center", variant: 1, augmentation: "rot15,seed42" };
  const key = featureKey(base);
  assert.match(key, /^[0-9a-f]{32}$/);
  assert.equal(featureKey({ ...base }), key);
  for (const changed of [{ backbone: "vgg16-b" }, { crop: "face:1,2,3,4" }, { variant: 2 }, { augmentation: "rot10,seed42" }]) {
    assert.notEqual(featureKey({ ...base, ...changed }), key, JSON.stringify(changed));
  }
  // The original photo (variant 0) does not depend on augmentation settings.
  assert.equal(featureKey({ ...base, variant: 0, augmentation: "x" }), featureKey({ ...base, variant: 0, augmentation: "y" }));
});

test("put, get, stats and garbage collection", async () => {
  const cache = new FeatureCache(folder.path);
  const [a, b] = [sha("photo a"), sha("photo b")];
  const vector = Float32Array.from([1.5, -2, 3.25]);
  assert.equal(await cache.get(a, "k0", 3), null);
  await cache.put(a, "k0", vector);
  await cache.put(a, "k1", vector);
  await cache.put(b, "k0", vector);
  assert.deepEqual(await cache.get(a, "k0", 3), vector);
  assert.equal(await cache.get(a, "k0", 4), null, "a vector of the wrong length is a miss");
  assert.deepEqual(await cache.stats(), { photos: 2, entries: 3, bytes: 36 });
  const removed = await cache.gc(new Set([b]));
  assert.deepEqual(removed, { photos: 1, entries: 2, bytes: 24 });
  assert.equal(await cache.get(a, "k0", 3), null);
  assert.deepEqual(await cache.get(b, "k0", 3), vector);
  await assert.rejects(cache.get("../../etc/passwd", "k", 1), /not a sha256 content hash/);
});

test("concurrent writers of one key leave one whole entry", async () => {
  const cache = new FeatureCache(folder.path);
  const photo = sha("photo c");
  const vector = Float32Array.from({ length: 512 }, (_, index) => index);
  await Promise.all(Array.from({ length: 20 }, () => cache.put(photo, "same", vector)));
  assert.deepEqual(await cache.get(photo, "same", 512), vector);
});
