import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { after, describe, test } from "node:test";
import { printable, printableLines } from "../../../src/cli/printable.js";
import { renderPredictions } from "../../../src/cli/commands/predict.js";
import { renderTrainingSummary } from "../../../src/cli/commands/train.js";
import type { BundleMetadata } from "../../../src/model/bundle.js";
import { runCli, runCliAsync } from "../../helpers/cli.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { freePort } from "../../helpers/net.js";

/**
 * Names in a repository are chosen by whoever pushes to it. One holding ESC [ 31 m recolours the
 * terminal of whoever reads the report, one holding a newline forges a line of it, and a
 * right-to-left override reverses what follows. Every text output of the CLI shows them escaped.
 */

const red = "\x1b[31m";
const forged = `notes${red}\nFAKE LINE.jpg`;
/** Control characters (but the line break) and bidi overrides a terminal would act on. */
// eslint-disable-next-line no-control-regex -- matching them is the point
const terminalActs = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

describe("printable", () => {
  const cases: Array<[string, string, string]> = [
    ["plain", "Ada_Lovelace/001.jpg", "Ada_Lovelace/001.jpg"],
    ["any script stays readable", "Zoë_Ünal/写真 1.jpg", "Zoë_Ünal/写真 1.jpg"],
    ["zero-width joiners stay (some scripts need them)", "क्‍ष", "क्‍ष"],
    ["ESC and a newline", `a${red}\nb`, "a\\x1b[31m\\nb"],
    ["tab and carriage return", "a\tb\rc", "a\\tb\\rc"],
    ["C1 control CSI and DEL", "a\x9b31mb\x7f", "a\\x9b31mb\\x7f"],
    ["right-to-left override", "photo\u202egpj.exe", "photo\\u202egpj.exe"],
    ["bidi isolates and marks", "\u2066a\u2069\u200f\u061c", "\\u2066a\\u2069\\u200f\\u061c"],
    ["line separator", "a\u2028b", "a\\u2028b"],
    ["a lone surrogate", "a\ud800b", "a\\ud800b"],
    ["a backslash is left alone, so escaping twice changes nothing", "a\\x1b", "a\\x1b"],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => {
      assert.equal(printable(input), expected);
      assert.equal(printable(printable(input)), expected);
    });
  }

  test("printableLines keeps line breaks and escapes the rest", () => {
    assert.equal(printableLines(`one\ntwo ${red}three\ttab`), "one\ntwo \\x1b[31mthree\\ttab");
  });
});

describe("text output of the CLI shows names escaped", () => {
  const repo = new TestRepo();
  const store = temporaryFolder();
  const env = { FACEOPS_STORE: store.path, FACEOPS_LOG_LEVEL: "warn" };
  for (const person of ["Bill_Gates", "Hans_Blix"]) for (const photo of lfwPhotos(person).slice(0, 6)) repo.copy(photo, `${person}/${basename(photo)}`);
  repo.write(`Bill_Gates/${forged}`, "not a photo");
  repo.copy(lfwPhotos("Hans_Blix")[7] as string, `Eve${red}\nX/1.jpg`);
  repo.copy(lfwPhotos("Hans_Blix")[8] as string, "Mallory\u202eevil/1.jpg");
  repo.commit("names chosen by an attacker");
  after(() => {
    repo.dispose();
    store.dispose();
  });

  test("dataset check: the rejected list, the reasons and the label tables", () => {
    const result = runCli(["dataset", "check", repo.path], { env });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, terminalActs);
    assert.ok(result.stdout.includes("Bill_Gates/notes\\x1b[31m\\nFAKE LINE.jpg  not_an_image"), result.stdout);
    assert.ok(!/^FAKE LINE/m.test(result.stdout), "no forged line");
    // The folder with control characters is refused, and its message quotes it escaped.
    assert.ok(result.stdout.includes("Eve\\x1b[31m\\nX/1.jpg"), result.stdout);
    // A bidi override is not a control character for labels, but it is escaped on a terminal.
    assert.ok(result.stdout.includes("Mallory\\u202eevil"), result.stdout);
    // JSON output is for programs: JSON.stringify escapes the C0 controls (ESC, newline), and the data stays exact.
    const json = runCli(["dataset", "check", repo.path, "--json"], { env });
    assert.ok(![...json.stdout.replace(/\n/g, "")].some((character) => character.charCodeAt(0) < 0x20), "no raw C0 control character");
    const manifest = JSON.parse(json.stdout) as { rejected: Array<{ path: string }> };
    assert.ok(manifest.rejected.some((rejected) => rejected.path === `Bill_Gates/${forged}`));
  });

  test("errors: one line, escaped", () => {
    const result = runCli(["predict", "--model", `/nonexistent/${forged}`, "photo.jpg"], { env });
    assert.equal(result.status, 1);
    assert.doesNotMatch(result.stderr, terminalActs);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.ok(result.stderr.includes("/nonexistent/notes\\x1b[31m\\nFAKE LINE.jpg"), result.stderr);
    const unknownOption = runCli(["dataset", "check", `--${red}`], { env });
    assert.equal(unknownOption.status, 1);
    assert.doesNotMatch(unknownOption.stderr, terminalActs);
    const badKey = runCli(["config", "print", "--set", `dataset.min${red}\nSide=4`], { env });
    assert.equal(badKey.status, 1);
    assert.ok(badKey.stderr.includes(`unknown key "dataset.min\\u001b[31m\\nSide"`), badKey.stderr);
  });

  test("predict: photo names and errors in the table", async () => {
    const folder = temporaryFolder();
    try {
      // Nothing listens there: the photo cannot even be read, and the error quotes its name.
      const port = await freePort();
      const result = await runCliAsync(["predict", "--url", `http://127.0.0.1:${port}`, join(folder.path, forged)], { env });
      assert.equal(result.status, 1);
      assert.doesNotMatch(result.stdout, terminalActs);
      assert.ok(result.stdout.includes("notes\\x1b[31m\\nFAKE LINE.jpg"), result.stdout);
      assert.ok(!/^FAKE LINE/m.test(result.stdout), result.stdout);
    } finally {
      folder.dispose();
    }
  });

  test("predict: labels a model answers are escaped too", () => {
    const text = renderPredictions(
      [
        {
          image: "a.jpg",
          prediction: {
            ...{ label: `Eve${red}`, score: 0.9, topk: [{ label: `Eve${red}`, score: 0.9 }, { label: "Bob\u202e", score: 0.1 }], distance: 0.1, known: true, confident: false },
            crop: "detected",
            facesFound: 1,
            faces: [{ box: { x: 1, y: 2, width: 30, height: 40 }, detectionScore: 0.9, label: `Eve${red}`, score: 0.9, topk: [{ label: `Eve${red}`, score: 0.9 }, { label: "Bob\u202e", score: 0.1 }], distance: 0.1, known: true, confident: false, tooSmall: false }],
          },
        },
      ],
      2,
    );
    assert.doesNotMatch(text, terminalActs);
    assert.ok(text.includes("Eve\\x1b[31m 90.0%, Bob\\u202e 10.0%"), text);
    assert.ok(text.includes("Eve\\x1b[31m (not sure)"), text);
  });

  test("status: the store path", () => {
    const parent = temporaryFolder();
    try {
      const root = join(parent.path, `store${red}\nFAKE`);
      mkdirSync(root);
      const result = runCli(["status", "--store", root], { env: { FACEOPS_LOG_LEVEL: "warn" } });
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(result.stdout, terminalActs);
      assert.ok(result.stdout.includes("store\\x1b[31m\\nFAKE"), result.stdout);
      assert.ok(!/^FAKE/m.test(result.stdout), result.stdout);
    } finally {
      parent.dispose();
    }
  });

  test("train: the summary's paths, source and labels", () => {
    const metadata = {
      labels: [`Eve${red}`, "Bob"],
      backbone: { id: "face-embedding", engine: "tfjs-cpu", randomWeights: false },
      crop: { mode: "face", counts: { detected: 3 } },
      faces: { photos: 10, facesFound: { "0": 1, "1": 8, "2": 1 }, warningCounts: { no_face: 1, multiple_faces: 1, low_quality: 0 }, warnings: [], rejected: [], leftOut: 0 },
      dataset: { source: `/faces/${forged}`, commit: "0123456789abcdef", train: 8, test: 2 },
      openSet: { maxDistance: 0.5, source: "auto", references: 8 },
      metrics: {
        accuracy: 1,
        balancedAccuracy: 1,
        top3Accuracy: 1,
        loss: 0.1,
        nearestClassMeanAccuracy: 1,
        knownRejectedRate: 0,
        curves: [{ epoch: 1, trainLoss: 0.2, trainAccuracy: 1, testLoss: 0.1, testAccuracy: 1 }],
        perLabel: [{ label: `Eve${red}\n`, precision: 1, recall: 1, f1: 0.5, support: 1 }],
      },
    } as unknown as BundleMetadata;
    const text = renderTrainingSummary(metadata, 10, `models/${red}v1`);
    assert.doesNotMatch(text, terminalActs);
    assert.ok(text.includes("Model        models/\\x1b[31mv1"), text);
    assert.ok(text.includes("Dataset      /faces/notes\\x1b[31m\\nFAKE LINE.jpg at 0123456789ab"), text);
    assert.ok(text.includes("Eve\\x1b[31m\\n"), text);
    assert.ok(text.includes("Faces        photos: 8 with one face, 1 with 2 faces, 1 with no face; warnings: 1 no_face, 1 multiple_faces, 0 low_quality (faceops dataset check lists them)"), text);
  });
});
