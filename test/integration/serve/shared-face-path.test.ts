import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { facePathRegistry, type FacePathRegistry } from "../../../src/model/face-path/registry.js";
import type { FacePathWorkers } from "../../../src/model/face-path/workers.js";
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
 * The service's versions share their face-path workers, as `faceops serve` and `up` run them (one
 * registry, wiring/inference.ts): a hot swap to a version of the same backbone starts no worker and
 * answers with the new version's head and references; a swap to another backbone starts its own
 * workers and ends the old ones once the old model's last request has finished; closing the service
 * ends every thread.
 *
 * v1 and v2 are face-embedding models of different people (v2 knows Tony Blair, v1 does not), so an
 * answer tells which head gave it; v3 is a face-embedding-mirrored model, another set of nets.
 */

const workers = 2;
const known = ["Hugo_Chavez", "Junichiro_Koizumi"];
const onlyInV1 = "Serena_Williams";
const onlyInV2 = "Tony_Blair";
const readyLine = /"msg":"face-path worker ready"/;

interface Answer {
  label: string;
  known: boolean;
  topk: Array<{ label: string }>;
  distance: number | null;
}

describe("versions sharing their face-path workers", () => {
  const folder = temporaryFolder();
  const firstRepo = faceRepo([...known, onlyInV1], 10);
  const secondRepo = faceRepo([...known, onlyInV2], 10);
  const store = new StoreLayout(join(folder.path, "store"));
  const lines: string[] = [];
  const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString("utf8")), done()) }));
  let trained: TrainedBundle;
  let service: TestService;
  let facePaths: FacePathRegistry<FacePathWorkers>;
  let follower: StoreFollower;
  let closed = false;

  const readyWorkers = () => lines.filter((line) => readyLine.test(line)).length;
  const answer = async (person: string): Promise<{ version: string; result: Answer }> => {
    const { status, body } = await postImage(`${service.url}/v1/predict`, readFileSync(lfwPhotos(person)[25] as string));
    assert.equal(status, 200, JSON.stringify(body));
    return { version: (body.model as { version: string }).version, result: (body.results as Answer[])[0] as Answer };
  };

  before(async () => {
    trained = await trainBundle(firstRepo.path, store, { "model.backbone": "face-embedding" }, store.modelVersion("v1"));
    await trainBundle(secondRepo.path, store, { "model.backbone": "face-embedding" }, store.modelVersion("v2"));
    await trainBundle(firstRepo.path, store, { "model.backbone": "face-embedding-mirrored" }, store.modelVersion("v3"));
    assert.equal(runningWorkerThreads(), 0, "training's workers have ended");

    service = await startService({ maxBatch: 4, maxDelayMs: 2 });
    facePaths = facePathRegistry(log);
    await pointCurrentModel(store, "v1", "test");
    follower = new StoreFollower({ store, slot: service.slot, metrics: service.metrics, config: trained.config, log, workers, facePaths, checkIntervalMs: 100 });
    await follower.start();
  });
  after(async () => {
    await follower.stop();
    if (!closed) await service.close();
    await facePaths.close();
    firstRepo.dispose();
    secondRepo.dispose();
    folder.dispose();
  });

  test("a swap to a version of the same backbone starts no worker and answers with the new version's head and references", async () => {
    assert.equal(service.slot.model?.version, "v1");
    assert.equal(readyWorkers(), workers);
    const byV1 = await answer(onlyInV2);
    assert.equal(byV1.version, "v1");
    assert.notEqual(byV1.result.label, onlyInV2, "v1 cannot name someone it never saw");
    assert.equal((await answer(onlyInV1)).result.label, onlyInV1);

    await pointCurrentModel(store, "v2", "same backbone");
    await waitUntil("v2 in service", () => service.slot.model?.version === "v2", { timeoutMs: 60_000, everyMs: 20 });
    const byV2 = await answer(onlyInV2);
    assert.equal(byV2.version, "v2");
    assert.equal(byV2.result.label, onlyInV2, "v2's head names the person only it was trained on");
    assert.ok(byV2.result.known && byV2.result.distance !== null, "v2's references place the photo near a known face");
    assert.ok(
      byV2.result.topk.every((entry) => [...known, onlyInV2].includes(entry.label)),
      `v2's labels only: ${byV2.result.topk.map((entry) => entry.label).join(", ")}`,
    );
    assert.equal(readyWorkers(), workers, "no face-path worker started for v2");
    assert.equal(facePaths.starts, 1, "one pool started in all");
    // v1 gave its lease back, and nothing else runs.
    await waitUntil("v1 disposed", () => facePaths.pools === 1 && runningWorkerThreads() === workers, { timeoutMs: 10_000, everyMs: 20, explain: () => `pools ${facePaths.pools}, threads ${runningWorkerThreads()}` });
  });

  test("a swap to another backbone starts its own workers and ends the old ones once the old model's last request is answered", async () => {
    // A request still running on v2: it holds v2 (and so v2's workers) until it is released, as the predict route does.
    const held = service.slot.acquire();
    assert.ok(held);
    assert.equal(held.version, "v2");
    await pointCurrentModel(store, "v3", "another backbone");
    await waitUntil("v3 in service", () => service.slot.model?.version === "v3", { timeoutMs: 60_000, everyMs: 20 });
    assert.equal(readyWorkers(), 2 * workers, "v3 started workers of its own");
    assert.equal(runningWorkerThreads(), 2 * workers, "v2's workers run while its request does");
    // The request still in flight is answered by v2, on v2's workers.
    const [late] = await held.predictor.predict([readFileSync(lfwPhotos(onlyInV2)[25] as string)]);
    assert.equal(late?.label, onlyInV2);
    const now = await answer(onlyInV1);
    assert.deepEqual([now.version, now.result.label], ["v3", onlyInV1]);

    service.slot.release(held);
    await waitUntil("v2's workers to end", () => runningWorkerThreads() === workers, { timeoutMs: 10_000, everyMs: 20, explain: () => `threads ${runningWorkerThreads()}` });
    assert.equal(facePaths.pools, 1);
    assert.equal((await answer(onlyInV1)).version, "v3");
  });

  test("closing the service ends every face-path thread", async () => {
    assert.equal(runningWorkerThreads(), workers);
    await follower.stop();
    await service.close();
    closed = true;
    // The models gave their leases back: nothing is left for the registry's own close to end.
    assert.equal(runningWorkerThreads(), 0);
    assert.equal(facePaths.pools, 0);
  });
});
