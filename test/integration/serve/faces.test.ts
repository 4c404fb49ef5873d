import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { silentLogger } from "../../../src/log.js";
import type { PixelBox, PublicPhotoPrediction } from "../../../src/model/predictor.js";
import { loadPredictor } from "../../../src/serve/model-source.js";
import { launchChromium } from "../../helpers/browser.js";
import { runCliAsync } from "../../helpers/cli.js";
import { photoGrid } from "../../helpers/composite.js";
import { postImage } from "../../helpers/http.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { servedBundle } from "../../helpers/served-bundle.js";
import { chromium, requires } from "../../helpers/tools.js";

/**
 * Every face of a photo answered with its box, over real HTTP, on photos the test composes from
 * real LFW photos: side by side, beside a stranger, twelve at once, turned by EXIF, and a landscape
 * without a face. Where each face is, the test knows: it places the photos, and finds each face's
 * box in its own photo first (the same detector, on the photo alone), then moves it by the placement.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const photoOf = (person: string, index = 25) => readFileSync(lfwPhotos(person)[index] as string);
/** A stranger whose held-out photo the three-person model answers "unknown" (app.test.ts checks strangers in general). */
const stranger = photoOf("Colin_Powell", 3);
const tile = 250;

interface Placed {
  bytes: Buffer;
  /** Where the test put each photo's face, in the composite's pixels. */
  faces: PixelBox[];
}

type Answer = PublicPhotoPrediction;

/** Green noise, a photo without a face. */
const landscape = () => sharp({ create: { width: 640, height: 400, channels: 3, background: "#4a7a3a", noise: { type: "gaussian", mean: 110, sigma: 40 } } }).jpeg().toBuffer();

function iou(a: PixelBox, b: PixelBox): number {
  const width = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const height = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const overlap = width * height;
  return overlap / (a.width * a.height + b.width * b.height - overlap);
}

describe("every face in a photo", () => {
  const served = servedBundle(people);
  const url = () => `${served.service.url}/v1/predict`;
  const ask = async (bytes: Buffer, query = "", type = "image/jpeg") => {
    const { status, body } = await postImage(`${url()}${query}`, bytes, type);
    assert.equal(status, 200, JSON.stringify(body));
    return (body.results as Answer[])[0] as Answer;
  };
  /** The one face of an LFW photo on its own, as the service boxes it. */
  const faceAlone = async (bytes: Buffer) => {
    const answer = await ask(bytes);
    assert.equal(answer.faces.length, 1, `one face in a single LFW photo, found ${answer.facesFound}`);
    return (answer.faces[0] as Answer["faces"][number]).box;
  };
  /** Photos in a grid of 250-pixel tiles, `columns` wide, with where their faces are. */
  const grid = async (photos: Buffer[], columns: number): Promise<Placed> => {
    const faces: PixelBox[] = [];
    for (const [index, bytes] of photos.entries()) {
      const box = await faceAlone(bytes);
      faces.push({ ...box, x: box.x + (index % columns) * tile, y: box.y + Math.floor(index / columns) * tile });
    }
    return { bytes: await photoGrid(photos, columns, tile), faces };
  };
  /** Each placed face matched by an answered box with IoU >= 0.5; returns the answers in placement order. */
  const matched = (answer: Answer, placed: PixelBox[]) =>
    placed.map((box, index) => {
      const best = answer.faces.map((face) => ({ face, overlap: iou(face.box, box) })).sort((a, b) => b.overlap - a.overlap)[0];
      assert.ok(best && best.overlap >= 0.5, `face ${index + 1} placed at ${JSON.stringify(box)}: best overlap ${best?.overlap.toFixed(2)} (${JSON.stringify(answer.faces.map((face) => face.box))})`);
      return best.face;
    });

  test("is loaded", async () => {
    served.service.slot.install(await loadPredictor(served.bundle, { config: served.trained.config, log: silentLogger(), workers: 2 }), "v1");
  });

  test("two known people side by side are both named, each with a box over its face; the top level answers the larger", async () => {
    const placed = await grid([photoOf("Hugo_Chavez"), photoOf("Serena_Williams")], 2);
    const answer = await ask(placed.bytes);
    assert.equal(answer.facesFound, 2);
    assert.equal(answer.faces.length, 2);
    const [left, right] = matched(answer, placed.faces);
    assert.deepEqual([left?.label, right?.label], ["Hugo_Chavez", "Serena_Williams"]);
    assert.ok(answer.faces.every((face) => face.known && face.detectionScore !== null && face.detectionScore >= 0.5 && face.topk.length === 3 && !face.tooSmall));
    const area = (box: PixelBox) => box.width * box.height;
    assert.ok(area(answer.faces[0]?.box as PixelBox) >= area(answer.faces[1]?.box as PixelBox), "largest first");
    // The top level is the main face's answer, as before faces were listed: today's clients keep working.
    const main = answer.faces[0] as Answer["faces"][number];
    assert.deepEqual([answer.label, answer.score, answer.topk, answer.distance, answer.known, answer.crop], [main.label, main.score, main.topk, main.distance, true, "detected"]);
  });

  test("a stranger beside a known person: one name and one unknown", async () => {
    const placed = await grid([stranger, photoOf("Junichiro_Koizumi")], 2);
    const answer = await ask(placed.bytes);
    const [unknown, known] = matched(answer, placed.faces);
    assert.equal(unknown?.label, "unknown");
    assert.equal(unknown?.known, false);
    assert.equal(known?.label, "Junichiro_Koizumi");
  });

  test("a landscape with no face: no_face, no name anywhere", async () => {
    const answer = await ask(await landscape());
    assert.deepEqual(
      { label: answer.label, known: answer.known, topk: answer.topk, distance: answer.distance, facesFound: answer.facesFound, faces: answer.faces, crop: answer.crop },
      { label: "no_face", known: false, topk: [], distance: null, facesFound: 0, faces: [], crop: "no_face" },
    );
    assert.ok(!JSON.stringify(answer).match(new RegExp(people.join("|"))), "no person's name in the answer");
  });

  test("twelve faces: maxFaces are answered, largest first, and all twelve are counted", async () => {
    const photos = Array.from({ length: 12 }, (_, index) => photoOf(people[index % 3] as string, 20 + Math.floor(index / 3)));
    const placed = await grid(photos, 4);
    const answer = await ask(placed.bytes);
    assert.equal(answer.facesFound, 12);
    assert.equal(answer.faces.length, 10, "maxFaces is 10 unless asked");
    const fewer = await ask(placed.bytes, "?maxFaces=3");
    assert.equal(fewer.facesFound, 12);
    assert.deepEqual(fewer.faces.map((face) => face.box), answer.faces.slice(0, 3).map((face) => face.box), "the same three largest");
    const all = await ask(placed.bytes, "?maxFaces=12");
    matched(all, placed.faces);
  });

  test("a photo turned by its EXIF orientation gives boxes in the upright photo's pixels", async () => {
    const placed = await grid([photoOf("Hugo_Chavez"), photoOf("Serena_Williams")], 2);
    // Stored turned a quarter to the left, with orientation 6 ("turn 90 degrees clockwise to show").
    const turned = await sharp(await sharp(placed.bytes).rotate(-90).toBuffer()).withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toBuffer();
    assert.deepEqual([(await sharp(turned).metadata()).width, (await sharp(turned).metadata()).orientation], [250, 6]);
    const answer = await ask(turned);
    const [left, right] = matched(answer, placed.faces);
    assert.deepEqual([left?.label, right?.label], ["Hugo_Chavez", "Serena_Williams"]);
  });

  test("faces smaller than minFaceSize are listed as too small, not named", async () => {
    const placed = await grid([photoOf("Hugo_Chavez"), photoOf("Serena_Williams")], 2);
    const answer = await ask(placed.bytes, "?minFaceSize=1000");
    assert.equal(answer.facesFound, 2);
    assert.equal(answer.label, "no_face", "no face big enough to name");
    assert.deepEqual(answer.faces.map((face) => [face.label, face.tooSmall, face.known, face.topk.length]), [["too_small", true, false, 0], ["too_small", true, false, 0]]);
    matched(answer, placed.faces);
  });

  test("maxFaces and minFaceSize out of range answer 400 naming the parameter", async () => {
    const photo = photoOf("Hugo_Chavez");
    for (const [query, code, message] of [
      ["?maxFaces=0", "bad_max_faces", /^maxFaces must be an integer from 1 to 100, received "0"$/],
      ["?maxFaces=101", "bad_max_faces", /^maxFaces must be an integer from 1 to 100/],
      ["?maxFaces=two", "bad_max_faces", /^maxFaces must be an integer/],
      ["?minFaceSize=-1", "bad_min_face_size", /^minFaceSize must be an integer from 0 to 10000, received "-1"$/],
      ["?minFaceSize=1.5", "bad_min_face_size", /^minFaceSize must be an integer/],
    ] as const) {
      const { status, body } = await postImage(`${url()}${query}`, photo);
      assert.equal(status, 400, query);
      const error = body.error as { code: string; message: string };
      assert.equal(error.code, code, query);
      assert.match(error.message, message, query);
    }
  });

  test("the Open Inference Protocol answers the same faces as tensors, declared in the model's metadata", async () => {
    const placed = await grid([photoOf("Hugo_Chavez"), photoOf("Serena_Williams")], 2);
    const alone = photoOf("Junichiro_Koizumi");
    const metadata = (await (await fetch(`${served.service.url}/v2/models/faces`)).json()) as { outputs: Array<{ name: string; datatype: string; shape: number[] }> };
    assert.deepEqual(metadata.outputs.map((output) => `${output.name} ${output.datatype} [${output.shape.join(",")}]`), [
      "scores FP32 [-1,3]",
      "labels BYTES [-1]",
      "faces_found INT32 [-1]",
      "boxes FP32 [-1,4]",
      "face_photo INT32 [-1]",
      "face_labels BYTES [-1]",
      "face_scores FP32 [-1,3]",
      "confident BOOL [-1]",
      "face_confident BOOL [-1]",
    ]);
    const response = await fetch(`${served.service.url}/v2/models/faces/infer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "image", datatype: "BYTES", shape: [2], data: [placed.bytes.toString("base64"), alone.toString("base64")] }], parameters: { maxFaces: 5 } }),
    });
    assert.equal(response.status, 200);
    const outputs = new Map(((await response.json()) as { outputs: Array<{ name: string; shape: number[]; data: Array<number | string> }> }).outputs.map((output) => [output.name, output]));
    assert.deepEqual(outputs.get("faces_found")?.data, [2, 1]);
    assert.deepEqual(outputs.get("face_photo")?.data, [0, 0, 1]);
    assert.deepEqual(outputs.get("boxes")?.shape, [3, 4]);
    assert.deepEqual(outputs.get("face_scores")?.shape, [3, 3]);
    const labels = outputs.get("face_labels")?.data ?? [];
    assert.deepEqual([...labels.slice(0, 2)].sort(), ["Hugo_Chavez", "Serena_Williams"]);
    assert.equal(labels[2], "Junichiro_Koizumi");
    const boxes = outputs.get("boxes")?.data as number[];
    const first = { x: boxes[0] as number, y: boxes[1] as number, width: boxes[2] as number, height: boxes[3] as number };
    assert.ok(placed.faces.some((box) => iou(box, first) >= 0.5), "the boxes are where the faces are");
  });

  test("the web page draws each face's box with its name and score, and says when a photo has no face", async (t) => {
    if (!requires(t, chromium)) return;
    const placed = await grid([photoOf("Hugo_Chavez"), stranger], 2);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      await page.goto(served.service.url);
      await page.waitForSelector("#model[data-version='v1']");
      await page.setInputFiles("#file", { name: "two.jpg", mimeType: "image/jpeg", buffer: placed.bytes });
      await page.waitForSelector(".face[data-face='2']");
      // Boxes as the page shows them, back in the photo's pixels (the composite is 500 pixels wide).
      const frame = await page.locator("#preview").boundingBox();
      assert.ok(frame && frame.width > 0);
      const scale = 2 * tile / frame.width;
      const shown: Array<{ label: string | null; caption: string | null; box: PixelBox }> = [];
      for (const face of await page.locator(".face").all()) {
        const rect = await face.boundingBox();
        assert.ok(rect);
        shown.push({ label: await face.getAttribute("data-label"), caption: await face.textContent(), box: { x: (rect.x - frame.x) * scale, y: (rect.y - frame.y) * scale, width: rect.width * scale, height: rect.height * scale } });
      }
      assert.equal(shown.length, 2);
      const [known, unknown] = placed.faces.map((box) => shown.find((face) => iou(face.box, box) >= 0.5));
      assert.equal(known?.label, "Hugo_Chavez");
      assert.match(known?.caption ?? "", /^Hugo Chavez \d+\.\d%$/);
      assert.equal(unknown?.label, "unknown");
      assert.match(unknown?.caption ?? "", /^unknown \d+\.\d%$/);
      assert.match((await page.textContent("#faces")) ?? "", /^2 faces in this photo/);

      await page.setInputFiles("#file", { name: "landscape.jpg", mimeType: "image/jpeg", buffer: await landscape() });
      await page.waitForSelector("#answer[data-label='no_face']");
      assert.equal(await page.textContent("#answer"), "No face in this photo");
      assert.equal(await page.locator(".face").count(), 0);
      assert.equal(await page.locator("#scores tr").count(), 0);
      assert.equal(await page.textContent("#error"), "");
    } finally {
      await browser.close();
    }
  });

  test("faceops predict lists every face: a row per face, and JSON as the service answers", async () => {
    const placed = await grid([photoOf("Hugo_Chavez"), photoOf("Serena_Williams")], 2);
    const file = join(served.folder.path, "two people.jpg");
    writeFileSync(file, placed.bytes);
    const table = await runCliAsync(["predict", "--url", served.service.url, file]);
    assert.equal(table.status, 0, table.stderr);
    const rows = table.stdout.trim().split("\n");
    assert.match(rows[0] ?? "", /^IMAGE\s+FACE\s+BOX\s+ANSWER\s+TOP 3/);
    assert.equal(rows.length, 3, table.stdout);
    assert.ok(rows.slice(1).every((row) => /two people\.jpg\s+[12]\s+\d+,\d+ \d+x\d+\s+(Hugo_Chavez|Serena_Williams)\s/.test(row)), table.stdout);
    const json = await runCliAsync(["predict", "--url", served.service.url, "--json", "--max-faces", "1", file]);
    assert.equal(json.status, 0, json.stderr);
    const [result] = (JSON.parse(json.stdout) as { results: Array<{ prediction: Answer }> }).results;
    assert.equal(result?.prediction.facesFound, 2);
    assert.equal(result?.prediction.faces.length, 1);
    const bad = await runCliAsync(["predict", "--url", served.service.url, "--max-faces", "0", file]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--max-faces must be an integer from 1 to 100, received "0"/);
  });
});
