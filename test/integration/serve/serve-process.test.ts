import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { StoreLayout } from "../../../src/store/layout.js";
import { unterminatedMultipart } from "../../helpers/attack-bodies.js";
import { FaceopsServe } from "../../helpers/faceops-serve.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { abortMidBody, rawRequest } from "../../helpers/raw-http.js";
import { faceRepo, trainBundle } from "../../helpers/training.js";

/**
 * Finding 1 of issue 12 against the real `faceops serve` process: ~100 bytes of multipart without
 * a closing boundary used to end the process (an 'error' event nobody listened to). Here the
 * process must answer 400 and keep serving, and a client hanging up mid-file must not end it either.
 */

describe("faceops serve survives cut-off uploads", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(["Hugo_Chavez", "Serena_Williams"], 8);
  const bundle = join(folder.path, "bundle");
  const store = new StoreLayout(join(folder.path, "store"));
  let server: FaceopsServe;

  before(async () => {
    await trainBundle(repo.path, store, { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
    server = await FaceopsServe.start(["--model", bundle, "--store", store.root]);
  });
  after(async () => {
    await server?.stop();
    repo.dispose();
    folder.dispose();
  });

  test("finding 1's bytes answer 400 and the process keeps answering /healthz", async () => {
    const answer = await rawRequest(server.url, unterminatedMultipart.head, unterminatedMultipart.body);
    assert.equal(answer.status, 400, `${answer.body}\n${server.log}`);
    assert.match(answer.body, /"code":"bad_multipart"/);
    for (let round = 0; round < 3; round++) assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.ok(server.alive, server.log);
  });

  test("a client resetting its connection in the middle of a multipart file does not end the process", async () => {
    const head = "POST /v1/predict HTTP/1.1\r\nHost: faceops\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000";
    const part = `--XX\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n${"a".repeat(5000)}`;
    await abortMidBody(server.url, head, part, () => Promise.resolve(true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.ok(server.alive, server.log);
    assert.doesNotMatch(server.log, /"level":(50|60)/, "nothing logged as an error");
  });
});
