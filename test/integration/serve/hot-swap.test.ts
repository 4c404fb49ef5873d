import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger } from "../../../src/log.js";
import type { Predictor } from "../../../src/model/predictor.js";
import { runningWorkerThreads } from "../../../src/model/workers/pool.js";
import { StoreFollower } from "../../../src/serve/model-source.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { pointCurrentModel } from "../../../src/store/models.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { postImage, startService, type TestService } from "../../helpers/http.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { faceRepo, trainBundle, type TrainedBundle } from "../../helpers/training.js";
import { waitUntil } from "../../helpers/wait.js";

/**
 * The server follows the store's current-version pointer while clients keep sending requests:
 * no request fails, each is answered by a version that was in service while it ran, and a corrupt
 * bundle is refused while the old version keeps serving. Here each version runs its face path in its
 * own worker threads (a follower given no registry): a retired version's threads end, and closing
 * ends them all. The service's versions share their workers; shared-face-path.test.ts tests that.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const moves = 20;
const workers = 2;

interface Answered {
  started: number;
  ended: number;
  status: number;
  version: string | null;
  label: string | null;
}

describe("hot swap under load", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 10);
  const store = new StoreLayout(join(folder.path, "store"));
  let trained: TrainedBundle;
  let service: TestService;
  let follower: StoreFollower;
  /** When each version went into service, in order. */
  const installs: Array<{ version: string; at: number }> = [];

  before(async () => {
    // Two real versions that differ in their heads; the second costs no forward pass (feature cache).
    trained = await trainBundle(repo.path, store, { "model.backbone": "face-embedding" }, store.modelVersion("v1"));
    await trainBundle(repo.path, store, { "model.backbone": "face-embedding", "train.epochs": "8", "train.learningRate": "0.002" }, store.modelVersion("v2"));
    // v3: a copy of v1 whose head weights were altered after it was written.
    cpSync(store.modelVersion("v1"), store.modelVersion("v3"), { recursive: true });
    const weights = join(store.modelVersion("v3"), "head", "weights.bin");
    const bytes = readFileSync(weights);
    bytes[100] = (bytes[100] as number) ^ 0xff;
    writeFileSync(weights, bytes);
    // v4: a copy of v1 that claims another backbone: refused only once its workers have started.
    cpSync(store.modelVersion("v1"), store.modelVersion("v4"), { recursive: true });
    const metadataFile = join(store.modelVersion("v4"), "metadata.json");
    const metadata = JSON.parse(readFileSync(metadataFile, "utf8")) as { backbone: { fingerprint: string } };
    metadata.backbone.fingerprint += ":other";
    writeFileSync(metadataFile, JSON.stringify(metadata));

    service = await startService({ maxBatch: 4, maxDelayMs: 2 });
    const install = service.slot.install.bind(service.slot);
    service.slot.install = (predictor: Predictor, version: string) => {
      const model = install(predictor, version);
      installs.push({ version, at: performance.now() });
      return model;
    };
    await pointCurrentModel(store, "v1", "test");
    follower = new StoreFollower({ store, slot: service.slot, metrics: service.metrics, config: trained.config, log: silentLogger(), workers, checkIntervalMs: 100 });
    await follower.start();
  });
  let closed = false;
  after(async () => {
    await follower.stop();
    if (!closed) await service.close();
    repo.dispose();
    folder.dispose();
  });

  test(`${moves} pointer moves under continuous load: no failure, every answer from a version in service during its request`, async () => {
    assert.equal(service.slot.model?.version, "v1");
    const photos = people.map((person) => readFileSync(lfwPhotos(person)[25] as string));
    const answered: Answered[] = [];
    let sending = true;
    const client = async (offset: number) => {
      for (let index = offset; sending; index++) {
        const started = performance.now();
        const failed: { status: number; body: Record<string, unknown> } = { status: 0, body: {} };
        const { status, body } = await postImage(`${service.url}/v1/predict`, photos[index % photos.length] as Buffer).catch(() => failed);
        const results = body.results as Array<{ label: string }> | undefined;
        answered.push({ started, ended: performance.now(), status, version: (body.model as { version?: string } | undefined)?.version ?? null, label: results?.[0]?.label ?? null });
      }
    };
    const clients = [client(0), client(1), client(2)];

    for (let move = 1; move <= moves; move++) {
      const version = move % 2 === 1 ? "v2" : "v1";
      await pointCurrentModel(store, version, `move ${move}`);
      await waitUntil(`move ${move} to ${version}`, () => service.slot.model?.version === version && installs.length === move + 1, { timeoutMs: 60_000, everyMs: 20 });
      await sleep(50);
    }
    sending = false;
    await Promise.all(clients);

    assert.equal(installs.length, moves + 1);
    const failed = answered.filter((answer) => answer.status !== 200);
    assert.deepEqual(failed, [], "no request failed");
    assert.ok(answered.length > moves * 2, `only ${answered.length} requests were made`);
    for (const answer of answered) {
      assert.ok(servedDuring(answer), `a request from ${answer.started.toFixed(0)} to ${answer.ended.toFixed(0)} ms was answered by ${answer.version}, not in service then`);
      assert.ok(people.includes(answer.label ?? ""), `answered ${answer.label}`);
    }
    const versions = new Set(answered.map((answer) => answer.version));
    assert.deepEqual([...versions].sort(), ["v1", "v2"], "both versions answered requests");
    // Every retired version is disposed once its last request is answered, and its threads with it.
    await waitUntil(`only the serving version's ${workers} face-path threads`, () => runningWorkerThreads() === workers, { timeoutMs: 10_000, everyMs: 20, explain: () => `running: ${runningWorkerThreads()}` });
  });

  test("a corrupt bundle is refused, counted, and the previous version keeps serving", async () => {
    const serving = service.slot.model?.version;
    const failuresBefore = await loadFailures();
    await pointCurrentModel(store, "v3", "corrupt");
    await waitUntil("the failure to be counted", async () => (await loadFailures()) === failuresBefore + 1, { timeoutMs: 60_000, everyMs: 20 });
    assert.equal(service.slot.model?.version, serving);
    const { status, body } = await postImage(`${service.url}/v1/predict`, readFileSync(lfwPhotos("Serena_Williams")[25] as string));
    assert.equal(status, 200);
    assert.equal((body.model as { version: string }).version, serving);
    assert.equal((await fetch(`${service.url}/readyz`)).status, 200);
    // Moving on to a good version works again.
    await pointCurrentModel(store, "v2", "recovered");
    await waitUntil("v2 after the corrupt bundle", () => service.slot.model?.version === "v2", { timeoutMs: 60_000, everyMs: 20 });
  });

  test("a bundle refused after its face-path threads started ends them, and the previous version keeps serving", async () => {
    const failuresBefore = await loadFailures();
    await pointCurrentModel(store, "v4", "another backbone");
    await waitUntil("the failure to be counted", async () => (await loadFailures()) === failuresBefore + 1, { timeoutMs: 60_000, everyMs: 20 });
    assert.equal(service.slot.model?.version, "v2");
    assert.equal(runningWorkerThreads(), workers, "only the serving version's threads run");
    await pointCurrentModel(store, "v2", "recovered");
  });

  test("closing the service ends every face-path thread", async () => {
    assert.equal(runningWorkerThreads(), workers);
    await follower.stop();
    await service.close();
    closed = true;
    assert.equal(runningWorkerThreads(), 0);
  });

  function servedDuring(answer: Answered): boolean {
    return installs.some((install, index) => {
      const until = installs[index + 1]?.at ?? Infinity;
      return install.version === answer.version && install.at <= answer.ended && until >= answer.started;
    });
  }

  async function loadFailures(): Promise<number> {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    return [...text.matchAll(/^faceops_model_load_failures_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
  }
});
