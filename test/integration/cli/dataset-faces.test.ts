import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import type { DatasetReport } from "../../../src/cli/commands/dataset-check.js";
import { runCliAsync } from "../../helpers/cli.js";
import { besideLarger, centredIn } from "../../helpers/composite.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/**
 * `faceops dataset check` says what training will do about the faces of each photo: how many each
 * shows, which face a photo of several is trained on (its box), which photos show none, and, with
 * dataset.requireFace, which are left out. Real LFW photos, composed by the test.
 */

const photoOf = (person: string, index: number) => readFileSync(lfwPhotos(person)[index] as string);

describe("faceops dataset check: the faces of the photos", async () => {
  const repo = new TestRepo();
  const store = temporaryFolder();
  const env = { FACEOPS_STORE: store.path };
  for (const person of ["Hugo_Chavez", "Serena_Williams"]) for (const photo of lfwPhotos(person).slice(0, 6)) repo.copy(photo, `${person}/${basename(photo)}`);
  const composite = await besideLarger(photoOf("Serena_Williams", 25), photoOf("Hugo_Chavez", 25));
  repo.write("Hugo_Chavez/with-serena.jpg", composite.bytes);
  repo.write("Hugo_Chavez/landscape.jpg", await sharp({ create: { width: 640, height: 400, channels: 3, background: "#4a7a3a", noise: { type: "gaussian", mean: 110, sigma: 40 } } }).jpeg().toBuffer());
  repo.commit("two people, a photo of both, a landscape");
  after(() => {
    repo.dispose();
    store.dispose();
  });
  const check = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const result = await runCliAsync(["dataset", "check", repo.path, ...args], { env: { ...env, ...extraEnv } });
    assert.equal(result.status, 0, result.stderr);
    return result;
  };

  test("--json: faces per photo, the face a two-person photo is trained on, and the photo without a face", async () => {
    const report = JSON.parse((await check(["--json"])).stdout) as DatasetReport;
    const found = Object.fromEntries(report.images.map((image) => [image.path, image.facesFound]));
    assert.equal(found["Hugo_Chavez/with-serena.jpg"], 2);
    assert.equal(found["Hugo_Chavez/landscape.jpg"], 0);
    assert.deepEqual(report.faces?.facesFound, { "0": 1, "1": 12, "2": 1 });
    const [several, ...others] = report.warnings.filter((warning) => warning.reason === "multiple_faces");
    assert.equal(others.length, 0);
    assert.equal(several?.path, "Hugo_Chavez/with-serena.jpg");
    assert.ok(several?.box && centredIn(several.box, composite.subject), `Hugo's face, not Serena's larger one: ${JSON.stringify(several?.box)}`);
    assert.deepEqual(report.warnings.filter((warning) => warning.reason === "no_face"), [
      { path: "Hugo_Chavez/landscape.jpg", reason: "no_face", message: "no face found: trained on the dataset's median face box" },
    ]);
    assert.equal(report.faces?.warningCounts.multiple_faces, 1);
    assert.deepEqual(report.rejected, []);
  });

  test("dataset.requireFace: the photo without a face is rejected (no_face), not warned about", async () => {
    const report = JSON.parse((await check(["--json"], { FACEOPS_DATASET_REQUIRE_FACE: "true" })).stdout) as DatasetReport;
    assert.deepEqual(report.rejected, [{ path: "Hugo_Chavez/landscape.jpg", reason: "no_face", message: "no face found, and dataset.requireFace is true" }]);
    assert.equal(report.warnings.filter((warning) => warning.reason === "no_face").length, 0);
  });

  test("the text summary counts faces and lists each warning with its box", async () => {
    const { stdout } = await check(["--log-level", "warn"]);
    assert.match(stdout, /Faces +photos: 12 with one face, 1 with 2 faces, 1 with no face, in \d+\.\d\d s/);
    assert.match(stdout, /WARNING +FILE +FACE BOX +DETAIL/);
    assert.match(stdout, /multiple_faces +Hugo_Chavez\/with-serena\.jpg +\d+,\d+ \d+x\d+ +2 faces: trained on the one most like the person's other photos/);
    assert.match(stdout, /no_face +Hugo_Chavez\/landscape\.jpg +- +no face found/);
  });

  test("--no-faces skips the faces: no counts, no warnings", async () => {
    const report = JSON.parse((await check(["--json", "--no-faces"])).stdout) as DatasetReport;
    assert.equal(report.faces, null);
    assert.deepEqual(report.warnings, []);
    assert.ok(report.images.every((image) => image.facesFound === undefined));
  });
});
