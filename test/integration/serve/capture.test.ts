import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { silentLogger } from "../../../src/log.js";
import type { PublicPhotoPrediction } from "../../../src/model/predictor.js";
import { FaceCapture, type CaptureDrop } from "../../../src/review/capture.js";
import { decodeEmbedding, Inbox } from "../../../src/review/inbox.js";
import { ServeCapture } from "../../../src/serve/capture.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { systemClock } from "../../../src/util/clock.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { postImage } from "../../helpers/http.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { servedBundle } from "../../helpers/served-bundle.js";

/**
 * Faces kept for review (serve.capture) over real HTTP with a real model: a stranger's face lands
 * in the inbox as the crop the model saw with its answer and embedding, a known face does not, and
 * an inbox that cannot be written stops capture without failing a single prediction.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const stranger = readFileSync(lfwPhotos("Colin_Powell")[3] as string);
const known = readFileSync(lfwPhotos("Hugo_Chavez")[25] as string);

function capturing(root: string, events: { dropped?: CaptureDrop[]; stopped?: string[] } = {}) {
  const inbox = new Inbox(root, { maxItems: 50, maxAgeDays: 30 });
  const writer = new FaceCapture(inbox, {
    clock: systemClock,
    log: silentLogger(),
    events: { dropped: (reason) => events.dropped?.push(reason), stopped: (reason) => events.stopped?.push(reason) },
  });
  return { inbox, writer, serving: new ServeCapture(writer, { lowMargin: 0.1, keepPhoto: false }) };
}

describe("capture for review", () => {
  const folder = temporaryFolder();
  const kept = capturing(join(folder.path, "inbox"));
  const served = servedBundle(people, { capture: kept.serving });
  const ask = async (bytes: Buffer) => {
    const { status, body } = await postImage(`${served.service.url}/v1/predict`, bytes);
    assert.equal(status, 200, JSON.stringify(body));
    return (body.results as PublicPhotoPrediction[])[0] as PublicPhotoPrediction;
  };

  test("is loaded", async () => {
    served.service.slot.install(await loadPredictor(served.bundle, { config: served.trained.config, log: silentLogger(), workers: 1 }), "v1");
  });

  test("a stranger's face is kept with its answer, the model version, the nearest person and the crop the model saw", async () => {
    const answer = await ask(stranger);
    assert.equal(answer.label, "unknown");
    await kept.writer.drain();
    const faces = await kept.inbox.list();
    assert.equal(faces.length, 1);
    const [face] = faces as [(typeof faces)[number]];
    assert.deepEqual([face.reason, face.answer, face.modelVersion, face.hasPhoto], ["unknown", "unknown", "v1", false]);
    assert.equal(face.distance, answer.distance);
    assert.ok(face.nearest && people.includes(face.nearest.label), JSON.stringify(face.nearest));
    assert.equal(face.backbone, served.trained.metadata.backbone.fingerprint);
    assert.equal(decodeEmbedding(face.embedding).length, served.trained.metadata.backbone.featureLength);
    assert.deepEqual(face.box, answer.faces[0]?.box);
    const crop = await sharp(await kept.inbox.readCrop(face.id)).metadata();
    assert.deepEqual([crop.format, crop.width, crop.height], ["jpeg", served.trained.metadata.backbone.inputSize, served.trained.metadata.backbone.inputSize]);
  });

  test("a face named clearly is not kept", async () => {
    const answer = await ask(known);
    assert.equal(answer.label, "Hugo_Chavez");
    assert.ok((answer.topk[0]?.score ?? 0) - (answer.topk[1]?.score ?? 0) >= 0.1, "a clear lead: not a low_margin face");
    await kept.writer.drain();
    assert.equal((await kept.inbox.list()).length, 1);
  });
});

describe("capture into an inbox that cannot be written", () => {
  const folder = temporaryFolder();
  const blocked = join(folder.path, "inbox");
  writeFileSync(blocked, "a file where the inbox's folder should be");
  const stopped: string[] = [];
  const dropped: CaptureDrop[] = [];
  const kept = capturing(blocked, { stopped, dropped });
  const served = servedBundle(people, { capture: kept.serving });

  test("predictions are answered as always; capture stops once, with the reason", async () => {
    served.service.slot.install(await loadPredictor(served.bundle, { config: served.trained.config, log: silentLogger(), workers: 1 }), "v1");
    for (let round = 0; round < 3; round++) {
      const { status, body } = await postImage(`${served.service.url}/v1/predict`, stranger);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal((body.results as PublicPhotoPrediction[])[0]?.label, "unknown");
      await kept.writer.drain();
    }
    assert.equal(stopped.length, 1);
    assert.match(stopped[0] ?? "", /cannot be written \(ENOTDIR\): face capture is off until the service restarts/);
    assert.deepEqual(dropped, ["failed"], "one face lost; the next ones are not even tried");
  });
});
