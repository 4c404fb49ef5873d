/**
 * How large a photo must be decoded for prediction to give the same answers as the full size.
 *
 *   npx tsx bench/decode-side.ts [--people N] [--photos K]
 *
 * Trains a face-embedding bundle (face crops, as `faceops train` defaults) on the first 10 photos of
 * N LFW people (default 5), then predicts K held-out photos of each (default 4) in three forms:
 * - "enlarged": the 250x250 photo enlarged 16x to 4000x4000 (lanczos3, JPEG quality 92);
 * - "small face": the photo enlarged 4x, placed in a 6000x4000 black scene, so the face covers
 *   ~7% of the longer side, about the smallest the detectors find;
 * and for each, decoded at its full size (what serving did before) and shrunk while decoding to
 * 1024, 2048 and 4096 on the longer side. Reports, against the full size, how many labels changed,
 * the largest change of the winning score and of the open-set distance, and the decode+crop time.
 * Prints a markdown table and writes bench/results/decode-side.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { silentLogger } from "../src/log.js";
import { croppedFaces, Predictor } from "../src/model/predictor.js";
import type { PreparedFaces, PrepareOptions } from "../src/model/face-path/prepare.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwPeople, lfwPhotos } from "../test/helpers/lfw.js";
import { trainBundle } from "../test/helpers/training.js";

const { values } = parseArgs({ options: { people: { type: "string", default: "5" }, photos: { type: "string", default: "4" } } });
const peopleCount = Number(values.people);
const perPerson = Number(values.photos);
const sides: Array<number | null> = [null, 1024, 2048, 4096];

async function enlarged(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes).resize(4000, 4000, { kernel: "lanczos3" }).jpeg({ quality: 92 }).toBuffer();
}

async function smallFace(bytes: Buffer, index: number): Promise<Buffer> {
  const photo = await sharp(bytes).resize(1000, 1000, { kernel: "lanczos3" }).toBuffer();
  const left = 500 + ((index * 1237) % 4400);
  const top = 300 + ((index * 731) % 2600);
  return sharp({ create: { width: 6000, height: 4000, channels: 3, background: "#000000" } })
    .composite([{ input: photo, left, top }])
    .jpeg({ quality: 92 })
    .toBuffer();
}

interface Row {
  form: string;
  side: string;
  photos: number;
  labelsChanged: number;
  maxScoreChange: number;
  maxDistanceChange: number;
  cropOutcomesChanged: number;
  msPerPhoto: number;
}

const scratch = mkdtempSync(join(tmpdir(), "faceops-decode-side-"));
try {
  const people = lfwPeople(10 + perPerson).slice(0, peopleCount);
  const faces = join(scratch, "faces");
  for (const person of people) {
    mkdirSync(join(faces, person), { recursive: true });
    for (const path of lfwPhotos(person).slice(0, 10)) writeFileSync(join(faces, person, basename(path)), readFileSync(path));
  }
  const bundle = join(scratch, "bundle");
  const trained = await trainBundle(faces, new StoreLayout(join(scratch, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "1" }, bundle);
  const predictor = await Predictor.load(bundle, { config: trained.config, log: silentLogger() });
  const answer = async (bytes: Uint8Array, options: PrepareOptions) => {
    const photo = await predictor.prepare(bytes, options);
    return predictor.answerPhoto(photo, await predictor.scores(croppedFaces(photo)), 1);
  };
  const heldOut = people.flatMap((person) => lfwPhotos(person).slice(10, 10 + perPerson).map((path) => ({ person, bytes: readFileSync(path) })));
  const forms: Array<{ name: string; make: (bytes: Buffer, index: number) => Promise<Buffer> }> = [
    { name: "enlarged 16x (4000x4000)", make: enlarged },
    { name: "small face in 6000x4000", make: smallFace },
  ];
  const original: string[] = [];
  {
    for (const photo of heldOut) original.push((await answer(photo.bytes, { maxSide: null })).label);
  }
  const rows: Row[] = [];
  let correctFull = 0;
  const changes: string[] = [];
  for (const form of forms) {
    const photos = await Promise.all(heldOut.map((photo, index) => form.make(photo.bytes, index)));
    const results = new Map<string, Array<{ label: string; score: number; distance: number | null; crop: string }>>();
    const times = new Map<string, number>();
    for (const side of sides) {
      const key = side === null ? "full" : String(side);
      const started = performance.now();
      const prepared: PreparedFaces[] = [];
      for (const bytes of photos) prepared.push(await predictor.prepare(bytes, { maxPixels: 100_000_000, maxSide: side }));
      times.set(key, (performance.now() - started) / photos.length);
      const answers: Array<{ label: string; score: number; distance: number | null; crop: string }> = [];
      for (const photo of prepared) {
        const { label, score, distance, crop } = predictor.answerPhoto(photo, await predictor.scores(croppedFaces(photo)), 1);
        answers.push({ label, score, distance, crop });
      }
      results.set(key, answers);
    }
    const full = results.get("full") ?? [];
    const fromOriginal = full.filter((answer, index) => answer.label !== original[index]).length;
    changes.push(`${form.name}, full size, against the 250x250 original: ${fromOriginal} of ${full.length} labels differ`);
    if (form === forms[0]) correctFull = full.filter((result, index) => result.label === heldOut[index]?.person).length;
    for (const [key, answers] of results) {
      answers.forEach((answer, index) => {
        const reference = full[index];
        if (reference && answer.label !== reference.label) {
          changes.push(`${form.name}, side ${key}, a photo of ${heldOut[index]?.person}: full size ${reference.label} (score ${reference.score.toFixed(3)}, distance ${reference.distance?.toFixed(3)}), now ${answer.label} (score ${answer.score.toFixed(3)}, distance ${answer.distance?.toFixed(3)}); unknown beyond ${predictor.maxDistance?.toFixed(3)}`);
        }
      });
      rows.push({
        form: form.name,
        side: key,
        photos: answers.length,
        labelsChanged: answers.filter((answer, index) => answer.label !== full[index]?.label).length,
        maxScoreChange: Math.max(...answers.map((answer, index) => Math.abs(answer.score - (full[index]?.score ?? 0)))),
        maxDistanceChange: Math.max(...answers.map((answer, index) => Math.abs((answer.distance ?? 0) - (full[index]?.distance ?? 0)))),
        cropOutcomesChanged: answers.filter((answer, index) => answer.crop !== full[index]?.crop).length,
        msPerPhoto: times.get(key) ?? 0,
      });
    }
  }
  await predictor.dispose();
  console.log(`\n${people.length} people, ${heldOut.length} held-out photos; full-size answers right: ${correctFull}/${heldOut.length}\n`);
  console.log("| photo | decoded side | labels changed | max score change | max distance change | crop outcomes changed | ms/photo |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    console.log(`| ${row.form} | ${row.side} | ${row.labelsChanged}/${row.photos} | ${row.maxScoreChange.toFixed(4)} | ${row.maxDistanceChange.toFixed(4)} | ${row.cropOutcomesChanged} | ${row.msPerPhoto.toFixed(0)} |`);
  }
  for (const change of changes) console.log(`\n- ${change}`);
  writeFileSync(
    join(import.meta.dirname, "results", "decode-side.json"),
    `${JSON.stringify({ people: people.length, photos: heldOut.length, correctFull, rows, changes, environment: { cpus: cpus().length, node: process.version } }, null, 2)}\n`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
