import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { FaceWarning } from "../../../src/model/face-survey.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { besideLarger, centredIn } from "../../helpers/composite.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo, trainBundle } from "../../helpers/training.js";

/**
 * A training photo must be trained on its own person's face. Hugo Chavez's folder gets a photo in
 * which Serena Williams is larger (so "the largest face", the old rule, would train Hugo's label on
 * Serena): the run must choose Hugo's face, say so, and lose no accuracy against the same
 * repository without that photo. Default backbone and face crops, real LFW photos.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const photoOf = (person: string, index: number) => readFileSync(lfwPhotos(person)[index] as string);

describe("training on a photo that shows two people", () => {
  const folder = temporaryFolder();
  const withPhoto = faceRepo(people, 10);
  const without = faceRepo(people, 10);
  after(() => {
    withPhoto.dispose();
    without.dispose();
    folder.dispose();
  });

  test("trains on the folder's person's face, reports it, and keeps the accuracy of the repository without it", async () => {
    const composite = await besideLarger(photoOf("Serena_Williams", 25), photoOf("Hugo_Chavez", 25));
    withPhoto.write("Hugo_Chavez/with-serena.jpg", composite.bytes).commit("Hugo with Serena, larger");

    const trained = await trainBundle(withPhoto.path, new StoreLayout(join(folder.path, "with")), {}, join(folder.path, "with-bundle"));
    const baseline = await trainBundle(without.path, new StoreLayout(join(folder.path, "without")), {}, join(folder.path, "without-bundle"));
    const faces = trained.metadata.faces;
    assert.ok(faces, "a face-crop bundle records the faces of its photos");
    assert.equal(faces.photos, 31);
    assert.equal(faces.facesFound["2"], 1, JSON.stringify(faces.facesFound));
    const multiple = faces.warnings.filter((warning: FaceWarning) => warning.reason === "multiple_faces");
    assert.equal(multiple.length, 1, JSON.stringify(faces.warnings));
    const [warning] = multiple as [FaceWarning];
    assert.equal(warning.path, "Hugo_Chavez/with-serena.jpg");
    assert.match(warning.message, /^2 faces: trained on the one most like the person's other photos/);
    assert.ok(warning.box && centredIn(warning.box, composite.subject), `the chosen box ${JSON.stringify(warning.box)} is Hugo's, placed at ${JSON.stringify(composite.subject)}`);
    assert.ok(!centredIn(warning.box, composite.larger), "not the larger face, Serena's");

    const { accuracy } = trained.metadata.metrics;
    console.log(`accuracy with the two-person photo ${accuracy.toFixed(3)}, without ${baseline.metadata.metrics.accuracy.toFixed(3)}`);
    assert.ok(accuracy >= baseline.metadata.metrics.accuracy, `accuracy ${accuracy} with the photo, ${baseline.metadata.metrics.accuracy} without`);
  });
});
