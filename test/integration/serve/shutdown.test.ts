import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { StoreLayout } from "../../../src/store/layout.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo, trainBundle } from "../../helpers/training.js";
import { waitUntil } from "../../helpers/wait.js";

/**
 * `faceops serve` as Kubernetes runs it: on SIGTERM it stops accepting, lets the requests in flight
 * finish, and exits 0. A request half sent when the signal arrives still gets its answer.
 */

const main = resolve(import.meta.dirname, "../../../src/cli/main.ts");
const people = ["Hugo_Chavez", "Serena_Williams"];

describe("faceops serve shuts down gracefully", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 8);
  const bundle = join(folder.path, "bundle");
  const store = new StoreLayout(join(folder.path, "store"));
  before(async () => {
    await trainBundle(repo.path, store, { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
  });
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  test("SIGTERM: the request in flight is answered, new connections are refused, the process exits 0", async () => {
    const server = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), main, "serve", "--model", bundle, "--port", "0", "--store", store.root, "--set", "serve.host=127.0.0.1", "--log-format", "json"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((resolveExit) => server.on("exit", (code) => resolveExit(code)));
    try {
      const url = await listeningUrl(server);
      await waitUntilReady(url);
      const photo = readFileSync(lfwPhotos("Serena_Williams")[20] as string);
      // Half the body now; SIGTERM; then the rest.
      const answer = new Promise<{ status: number; body: string }>((resolveAnswer, reject) => {
        const outgoing = request(`${url}/v1/predict`, { method: "POST", headers: { "Content-Type": "image/jpeg", "Content-Length": photo.length } }, (response) => {
          let body = "";
          response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
          response.on("end", () => resolveAnswer({ status: response.statusCode ?? 0, body }));
        });
        outgoing.on("error", reject);
        outgoing.write(photo.subarray(0, photo.length >> 1), () => {
          server.kill("SIGTERM");
          // Give the server time to see the signal before the rest of the body arrives.
          setTimeout(() => outgoing.end(photo.subarray(photo.length >> 1)), 300);
        });
      });
      const { status, body } = await answer;
      assert.equal(status, 200, body);
      assert.equal((JSON.parse(body) as { results: Array<{ label: string }> }).results[0]?.label, "Serena_Williams");
      assert.equal(await exited, 0);
      await assert.rejects(fetch(`${url}/healthz`), "no new connection is accepted once it has gone");
    } finally {
      server.kill("SIGKILL");
    }
  });
});

function listeningUrl(server: ChildProcess): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    let buffered = "";
    server.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(buffered);
      if (match) resolveUrl(match[1] as string);
    });
    server.on("exit", (code) => reject(new Error(`faceops serve exited with ${code} before listening: ${buffered}`)));
  });
}

function waitUntilReady(url: string): Promise<void> {
  return waitUntil(`${url} to be ready`, () => fetch(`${url}/readyz`).then((response) => response.status === 200, () => false), { everyMs: 100 });
}
