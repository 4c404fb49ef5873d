import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../../src/log.js";
import { loadBundle } from "../../../src/model/bundle.js";
import { Predictor, type PublicPhotoPrediction } from "../../../src/model/predictor.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { postImage, startService, type TestService } from "../../helpers/http.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { configWith, faceRepo, join, trainBundle, type TrainedBundle } from "../../helpers/training.js";

/**
 * The "unknown" answer calibrated on strangers, and the two-level answer, on real LFW photos: a
 * model of five people trained with a `_not/` folder of four others, its calibration recorded in
 * the bundle, then served: a known photo named with confident: true, a borderline one named with
 * confident: false, a stranger "unknown", over /v1 and the Open Inference Protocol.
 */

const people = ["Ariel_Sharon", "Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams", "Tony_Blair"];
const outsiders = ["Jean_Chretien", "John_Ashcroft", "Jacques_Chirac", "Vladimir_Putin"];
/** Photos none of the models saw: the repository takes the first ten of each person. */
const heldOut = (person: string, index: number) => readFileSync(lfwPhotos(person)[20 + index] as string);
/** A small set: a target that a handful of strangers can show, and a known limit to match. */
const calibration = { "openSet.targetStrangerRejection": "0.9", "openSet.maxKnownRejection": "0.1" };

describe("calibration on strangers and the two-level answer", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 10);
  for (const person of outsiders) for (const photo of lfwPhotos(person).slice(0, 4)) repo.copy(photo, `_not/${person}-${basename(photo)}`);
  repo.commit("strangers under _not/");
  const bundle = join(folder.path, "bundle");
  let trained: TrainedBundle | null = null;
  let service: TestService | null = null;
  before(async () => {
    trained = await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { "model.backbone": "face-embedding", ...calibration }, bundle);
    service = await startService({ maxBytes: 300_000, maxFiles: 4 });
  });
  after(async () => {
    await service?.close();
    repo.dispose();
    folder.dispose();
  });

  test("the threshold is calibrated on pseudo-strangers and _not/ photos, meets the target, and the bundle records it", async () => {
    const metadata = (await loadBundle(bundle)).metadata;
    assert.deepEqual(metadata.labels, people, "_not/ is no label");
    const openSet = metadata.openSet;
    assert.ok(openSet?.calibration, JSON.stringify(openSet));
    assert.equal(openSet.source, "calibrated-on-strangers");
    assert.equal(openSet.calibration.method, "pseudo-strangers");
    assert.equal(openSet.calibration.pseudoStrangers, 1, "20% of five people");
    assert.ok(openSet.calibration.outsiderPhotos > 0 && openSet.calibration.outsiderPhotos <= 16, `${openSet.calibration.outsiderPhotos} _not/ photos in the training split`);
    assert.equal(openSet.calibration.rule, "met-target");
    assert.ok(openSet.calibration.strangerRejection >= 0.9, `strangers rejected at calibration: ${openSet.calibration.strangerRejection}`);
    assert.ok(openSet.calibration.knownRejection <= 0.1, `known rejected at calibration: ${openSet.calibration.knownRejection}`);
    assert.equal(openSet.maxDistance, openSet.calibration.maxDistance);
    assert.ok(openSet.confidentDistance !== undefined && openSet.confidentDistance <= openSet.maxDistance);
    // The test split: every known person's test photos, and the pseudo-stranger's and _not/'s test photos.
    assert.equal(openSet.test?.knownPhotos, metadata.dataset.test);
    assert.ok((openSet.test?.strangerPhotos ?? 0) > 0);
    assert.equal(openSet.test?.knownRejection, metadata.metrics.knownRejectedRate);
  });

  test("a known photo is named confidently, a borderline one named but not sure, a stranger unknown: /v1 and OIP", async () => {
    const served = service as TestService;
    const config = (trained as TrainedBundle).config;
    // How far each candidate photo is from the training photos, to choose a near and a far known one.
    const probe = await Predictor.load(bundle, { config, log: silentLogger() });
    const known = people.flatMap((person) => [0, 1, 2, 3].map((index) => ({ person, bytes: heldOut(person, index) })));
    let measured: Array<{ person: string; bytes: Buffer; distance: number; label: string }>;
    try {
      measured = [];
      for (const photo of known) {
        const [answer] = await probe.predict([photo.bytes], 1);
        if (answer && answer.distance !== null && answer.label === photo.person) measured.push({ ...photo, distance: answer.distance, label: answer.label });
      }
    } finally {
      await probe.dispose();
    }
    measured.sort((a, b) => a.distance - b.distance);
    const near = measured[0];
    const far = measured.at(-1);
    assert.ok(near && far && near.distance < far.distance, `known photos named right: ${measured.length}`);
    // A confident distance between the two makes the far one borderline (a number set when serving overrides the bundle's).
    const between = await configWith({ store: config.store, "model.backbone": "face-embedding", "openSet.confidentDistance": String((near.distance + far.distance) / 2) });
    served.slot.install(await loadPredictor(bundle, { config: between, log: silentLogger(), workers: 1 }), "v1");

    const stranger = readFileSync(lfwPhotos("Colin_Powell")[3] as string);
    const ask = async (bytes: Buffer) => {
      const { status, body } = await postImage(`${served.url}/v1/predict`, bytes);
      assert.equal(status, 200, JSON.stringify(body));
      return (body.results as PublicPhotoPrediction[])[0] as PublicPhotoPrediction;
    };
    const answers = { near: await ask(near.bytes), far: await ask(far.bytes), stranger: await ask(stranger) };
    assert.deepEqual([answers.near.label, answers.near.known, answers.near.confident, answers.near.faces[0]?.confident], [near.person, true, true, true]);
    assert.deepEqual([answers.far.label, answers.far.known, answers.far.confident, answers.far.faces[0]?.confident], [far.person, true, false, false]);
    assert.deepEqual([answers.stranger.label, answers.stranger.known, answers.stranger.confident, answers.stranger.faces[0]?.confident], ["unknown", false, false, false]);

    const response = await fetch(`${served.url}/v2/models/faces/infer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        inputs: [{ name: "image", datatype: "BYTES", shape: [3], data: [near.bytes, far.bytes, stranger].map((bytes) => bytes.toString("base64")) }],
        outputs: [{ name: "labels" }, { name: "confident" }, { name: "face_confident" }],
      }),
    });
    assert.equal(response.status, 200);
    const outputs = ((await response.json()) as { outputs: Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }> }).outputs;
    assert.deepEqual(outputs, [
      { name: "labels", datatype: "BYTES", shape: [3], data: [near.person, far.person, "unknown"] },
      { name: "confident", datatype: "BOOL", shape: [3], data: [true, false, false] },
      { name: "face_confident", datatype: "BOOL", shape: [3], data: [true, false, false] },
    ]);
    const metadata = (await (await fetch(`${served.url}/v2/models/faces`)).json()) as { properties: Record<string, string> };
    assert.equal(Number(metadata.properties.confident_max_distance), (near.distance + far.distance) / 2);
    assert.ok(Number(metadata.properties.unknown_max_distance) > 0);
  });
});
