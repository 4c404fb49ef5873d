import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { StoreLayout } from "../../../src/store/layout.js";
import { runCliAsync } from "../../helpers/cli.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo, trainBundle } from "../../helpers/training.js";
import { resolvesWithin } from "../../helpers/wait.js";

/**
 * engine.workers through the real CLI: `faceops predict` answers the same with the face path in two
 * worker threads as on its own thread, in the order the photos were given; and Ctrl-C during a
 * `faceops train` whose workers are running ends the process, and so every thread of it, at once.
 */

const people = ["Hugo_Chavez", "Serena_Williams"];
const main = resolve(import.meta.dirname, "../../../src/cli/main.ts");

interface Answers {
  results: Array<{ image: string; prediction?: { label: string; faces: Array<{ box: unknown; label: string; score: number }> }; error?: string }>;
}

describe("engine.workers in the CLI", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 8);
  const bundle = join(folder.path, "bundle");
  before(async () => {
    await trainBundle(repo.path, new StoreLayout(join(folder.path, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
  });
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  test("faceops predict gives the same answers, in the same order, with engine.workers 0 and 2", async () => {
    const photos = [...people.flatMap((person) => lfwPhotos(person).slice(20, 23)), join(folder.path, "missing.jpg")];
    const predict = async (workers: string) => {
      const result = await runCliAsync(["--log-level", "error", "--set", `engine.workers=${workers}`, "predict", "--model", bundle, "--json", ...photos]);
      assert.equal(result.status, 1, `one photo is missing, so the exit status is 1:\n${result.stderr}`);
      return JSON.parse(result.stdout) as Answers;
    };
    const onThread = await predict("0");
    const inWorkers = await predict("2");
    assert.deepEqual(inWorkers.results.map((result) => result.image), photos, "answers in the order the photos were given");
    assert.match(inWorkers.results[photos.length - 1]?.error ?? "", /ENOENT/);
    for (const [index, result] of onThread.results.entries()) {
      const other = inWorkers.results[index];
      assert.equal(other?.prediction?.label, result.prediction?.label, result.image);
      assert.deepEqual(other?.prediction?.faces.map((face) => face.box), result.prediction?.faces.map((face) => face.box), result.image);
      for (const [faceIndex, face] of (result.prediction?.faces ?? []).entries()) {
        assert.ok(Math.abs((other?.prediction?.faces[faceIndex]?.score ?? -1) - face.score) < 1e-5, `${result.image}: score ${face.score}`);
      }
    }
  });

  test("Ctrl-C while faceops train's workers are finding faces ends the process, threads and all, at once", async () => {
    const store = join(folder.path, "interrupted-store");
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), main, "--store", store, "--log-format", "json", "--set", "engine.workers=2", "train", repo.path, "--out", join(folder.path, "interrupted")], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once("exit", (code, signal) => done({ code, signal })));
    let output = "";
    try {
      await new Promise<void>((started, failed) => {
        const timer = setTimeout(() => failed(new Error(`faceops train did not start detecting within 120 s:\n${output}`)), 120_000);
        child.stderr.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8");
          if (output.includes('"msg":"detecting faces"')) {
            clearTimeout(timer);
            started();
          }
        });
        void exited.then(() => failed(new Error(`faceops train exited before detecting:\n${output}`)));
      });
      assert.equal((output.match(/"msg":"face-path worker ready"/g) ?? []).length, 2, "two workers ran");
      const interrupted = Date.now();
      child.kill("SIGINT");
      // A generous bound on a loaded machine: the point is that nothing (a worker thread, a pending
      // task) keeps the process alive after Ctrl-C, which would show as a hang here.
      assert.ok(await resolvesWithin(exited, 15_000), `faceops train was still running 15 s after SIGINT:\n${output}`);
      const exit = await exited;
      assert.ok(exit.signal === "SIGINT" || exit.code === 130, `exit ${JSON.stringify(exit)}`);
      console.log(`faceops train ended ${Date.now() - interrupted} ms after SIGINT`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    }
  });
});
