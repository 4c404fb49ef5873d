import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { silentLogger } from "../../../src/log.js";
import { kernelShape, vgg16ConvLayers, vgg16Layers } from "../../../src/model/backbones/vgg16/architecture.js";
import {
  randomVgg16Weights,
  readVgg16H5,
  resolveVgg16Weights,
  resolveVgg16WeightsFile,
  vgg16WeightsCachePath,
  vgg16WeightsMd5,
  type DownloadProgress,
  type Vgg16Weights,
} from "../../../src/model/backbones/vgg16/weights/index.js";

/*
 * The Keras file cannot be downloaded here (no internet), so the tests write files with its exact
 * layout: root attribute layer_names (fixed-length byte strings, input and pool layers included),
 * one group per layer whose weight_names attribute lists its datasets (an empty float array for
 * layers without weights, which is what h5py stores for []), and the datasets inside the group.
 */

type NamingStyle = "keras-2016" | "keras-tf2";

interface KerasFileOptions {
  style?: NamingStyle;
  /** Leave this layer out of layer_names and the file, as a truncated export would. */
  omitLayer?: string;
  /** Save this layer's kernel with the shape of the next block's kernel. */
  wrongShapeLayer?: string;
  /** Put everything under a "model_weights" group, as model.save() does. */
  nested?: boolean;
  /** Split layer_names into layer_names0 and layer_names1, as Keras does for lists over 64 KB. */
  splitLayerNames?: boolean;
}

function weightNamesFor(layerName: string, style: NamingStyle): [string, string] {
  return style === "keras-2016" ? [`${layerName}_W_1:0`, `${layerName}_b_1:0`] : [`${layerName}/kernel:0`, `${layerName}/bias:0`];
}

async function writeKerasFile(path: string, weights: Vgg16Weights, options: KerasFileOptions = {}): Promise<void> {
  await h5wasm.ready;
  const style = options.style ?? "keras-2016";
  const file = new h5wasm.File(path, "w");
  try {
    const root = options.nested ? file.create_group("model_weights") : file;
    const layerNames = ["input_1", ...vgg16Layers.map((layer) => layer.name)].filter((name) => name !== options.omitLayer);
    const longest = Math.max(...layerNames.map((name) => name.length));
    if (options.splitLayerNames) {
      const half = Math.ceil(layerNames.length / 2);
      root.create_attribute("layer_names0", layerNames.slice(0, half), [half], `S${longest}`);
      root.create_attribute("layer_names1", layerNames.slice(half), [layerNames.length - half], `S${longest}`);
    } else {
      root.create_attribute("layer_names", layerNames, [layerNames.length], `S${longest}`);
    }
    root.create_attribute("backend", "tensorflow");
    root.create_attribute("keras_version", "1.1.0");
    for (const name of layerNames) {
      const group = root.create_group(name);
      const layer = vgg16ConvLayers.find((conv) => conv.name === name);
      if (!layer) {
        group.create_attribute("weight_names", new Float64Array(0));
        continue;
      }
      const [kernelName, biasName] = weightNamesFor(name, style);
      group.create_attribute("weight_names", [kernelName, biasName], [2], `S${kernelName.length}`);
      if (style === "keras-tf2") group.create_group(name);
      const saved = weights.layers.get(name);
      assert.ok(saved, `test weights lack ${name}`);
      const shape = kernelShape(layer);
      if (name === options.wrongShapeLayer) {
        const wrong = [3, 3, layer.inChannels * 2, layer.outChannels];
        group.create_dataset({ name: kernelName, data: new Float32Array(wrong.reduce((a, b) => a * b, 1)), shape: wrong });
      } else {
        group.create_dataset({ name: kernelName, data: saved.kernel, shape });
      }
      group.create_dataset({ name: biasName, data: saved.bias, shape: [layer.outChannels] });
    }
  } finally {
    file.close();
  }
}

function md5Of(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

function assertSameWeights(actual: Vgg16Weights, expected: Vgg16Weights): void {
  assert.equal(actual.layers.size, vgg16ConvLayers.length);
  for (const layer of vgg16ConvLayers) {
    const a = actual.layers.get(layer.name);
    const e = expected.layers.get(layer.name);
    assert.ok(a && e, `missing ${layer.name}`);
    assert.ok(a.kernel instanceof Float32Array);
    assert.deepEqual(a.kernel, e.kernel, `${layer.name} kernel`);
    assert.deepEqual(a.bias, e.bias, `${layer.name} bias`);
  }
}

const scratch = mkdtempSync(join(tmpdir(), "faceops-vgg16-weights-"));
const weights = randomVgg16Weights(11);
const goodFile = join(scratch, "good.h5");
let goodBytes: Uint8Array = new Uint8Array(0);
let goodMd5 = "";

before(async () => {
  await writeKerasFile(goodFile, weights);
  goodBytes = readFileSync(goodFile);
  goodMd5 = md5Of(goodBytes);
});

after(() => rmSync(scratch, { recursive: true, force: true }));

describe("readVgg16H5", () => {
  test("reads every conv layer of a Keras-2016-style file with the values written", async () => {
    const read = await readVgg16H5(goodFile);
    assertSameWeights(read, weights);
    assert.equal(read.random, false);
    assert.equal(read.sha256, createHash("sha256").update(goodBytes).digest("hex"));
  });

  test("follows weight_names, so newer layer/kernel:0 names under model_weights, with split layer_names, read too", async () => {
    const path = join(scratch, "tf2.h5");
    await writeKerasFile(path, weights, { style: "keras-tf2", nested: true, splitLayerNames: true });
    assertSameWeights(await readVgg16H5(path), weights);
  });

  test("a file missing a layer fails naming it", async () => {
    const path = join(scratch, "missing-layer.h5");
    await writeKerasFile(path, weights, { omitLayer: "block3_conv2" });
    await assert.rejects(readVgg16H5(path), (error: Error) => {
      assert.match(error.message, /12 layers with weights, expected 13/);
      assert.match(error.message, /missing block3_conv2/);
      assert.ok(error.message.includes(path));
      return true;
    });
  });

  test("a kernel of the wrong shape fails naming the layer, the dataset and both shapes", async () => {
    const path = join(scratch, "wrong-shape.h5");
    await writeKerasFile(path, weights, { wrongShapeLayer: "block4_conv1" });
    await assert.rejects(readVgg16H5(path), (error: Error) => {
      assert.ok(error.message.includes("block4_conv1/block4_conv1_W_1:0"), error.message);
      assert.match(error.message, /shape \[3, 3, 512, 512\], expected \[3, 3, 256, 512\]/);
      return true;
    });
  });

  test("a file that is not HDF5, or is absent, fails naming the path", async () => {
    const text = join(scratch, "not-hdf5.h5");
    writeFileSync(text, "<html>404 Not Found</html>");
    await assert.rejects(readVgg16H5(text), /not-hdf5\.h5 is not an HDF5 file/);
    await assert.rejects(readVgg16H5(join(scratch, "absent.h5")), /absent\.h5 cannot be read/);
  });
});

describe("resolveVgg16Weights", () => {
  let server: Server;
  let baseUrl = "";
  const requests: string[] = [];

  before(async () => {
    const corrupted = Uint8Array.from(goodBytes);
    corrupted[corrupted.length >> 1] = ((corrupted[corrupted.length >> 1] as number) + 1) % 256;
    server = createServer((request, response) => {
      requests.push(request.url ?? "");
      if (request.url === "/stall.h5") {
        // Headers and a first chunk, then silence: a connection that hangs mid-download.
        response.writeHead(200, { "content-length": String(goodBytes.byteLength) });
        response.write(goodBytes.subarray(0, 1024));
        return;
      }
      const body = request.url === "/weights.h5" ? goodBytes : request.url === "/corrupt.h5" ? corrupted : null;
      if (!body) {
        response.writeHead(404, { "content-type": "text/plain" }).end("not here");
        return;
      }
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.byteLength) });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const freshCache = () => mkdtempSync(join(scratch, "cache-"));

  test("downloads with progress, verifies the MD5 and caches; the next resolve uses the cache without a request", async () => {
    const cacheDir = freshCache();
    const progress: DownloadProgress[] = [];
    const first = await resolveVgg16WeightsFile({
      cacheDir,
      downloadUrl: `${baseUrl}/weights.h5`,
      md5: goodMd5,
      log: silentLogger(),
      onProgress: (step) => progress.push(step),
    });
    assert.equal(first.origin, "download");
    assert.equal(first.path, vgg16WeightsCachePath(cacheDir));
    assert.equal(md5Of(readFileSync(first.path)), goodMd5);
    assert.ok(progress.length > 1, `expected several progress reports, got ${progress.length}`);
    assert.ok(progress.every((step, i) => step.bytesTotal === goodBytes.byteLength && (i === 0 || step.bytesDone > (progress[i - 1] as DownloadProgress).bytesDone)));
    assert.equal(progress.at(-1)?.bytesDone, goodBytes.byteLength);
    assert.deepEqual(readdirSync(cacheDir), [first.path.split("/").pop()], "only the verified file is left in the cache");

    const requestsBefore = requests.length;
    const second = await resolveVgg16Weights({ cacheDir, downloadUrl: `${baseUrl}/weights.h5`, md5: goodMd5, log: silentLogger() });
    assert.equal(requests.length, requestsBefore, "the cached file must be used without any request");
    assertSameWeights(second, weights);
  });

  test("a configured URL is downloaded, verified and cached too", async () => {
    const cacheDir = freshCache();
    const resolved = await resolveVgg16WeightsFile({ source: `${baseUrl}/weights.h5`, cacheDir, md5: goodMd5, log: silentLogger() });
    assert.equal(resolved.origin, "download");
    assert.equal(resolved.url, `${baseUrl}/weights.h5`);
    assert.ok(existsSync(vgg16WeightsCachePath(cacheDir)));
  });

  test("corrupted bytes give an MD5 error with both hashes and leave nothing in the cache", async () => {
    const cacheDir = freshCache();
    await assert.rejects(
      resolveVgg16WeightsFile({ cacheDir, downloadUrl: `${baseUrl}/corrupt.h5`, md5: goodMd5, log: silentLogger() }),
      (error: Error) => {
        assert.ok(error.message.includes(`expected ${goodMd5}`), error.message);
        assert.match(error.message, /has MD5 [0-9a-f]{32}, expected/);
        assert.ok(!error.message.includes(`MD5 ${goodMd5}, expected`), "the actual MD5 must be the corrupted file's");
        return true;
      },
    );
    assert.deepEqual(readdirSync(cacheDir), []);
  });

  test("a 404 names the URL and the status", async () => {
    const cacheDir = freshCache();
    await assert.rejects(resolveVgg16WeightsFile({ cacheDir, downloadUrl: `${baseUrl}/missing.h5`, md5: goodMd5, log: silentLogger() }), (error: Error) => {
      assert.ok(error.message.includes(`GET ${baseUrl}/missing.h5 answered HTTP 404`), error.message);
      return true;
    });
    assert.deepEqual(readdirSync(cacheDir), []);
  });

  test("a download that stops delivering bytes is abandoned and leaves nothing in the cache", async () => {
    const cacheDir = freshCache();
    await assert.rejects(
      resolveVgg16WeightsFile({ cacheDir, downloadUrl: `${baseUrl}/stall.h5`, md5: goodMd5, log: silentLogger(), stallTimeoutMs: 300 }),
      /no data received for 0\.3 s/,
    );
    assert.deepEqual(readdirSync(cacheDir), []);
  });

  test("a cached file with the wrong MD5 is replaced by a fresh download", async () => {
    const cacheDir = freshCache();
    writeFileSync(vgg16WeightsCachePath(cacheDir), "half a file");
    const resolved = await resolveVgg16WeightsFile({ cacheDir, downloadUrl: `${baseUrl}/weights.h5`, md5: goodMd5, log: silentLogger() });
    assert.equal(resolved.origin, "download");
    assert.equal(md5Of(readFileSync(resolved.path)), goodMd5);
  });

  test("when nothing works the error says how to provide the weights", async () => {
    const cacheDir = freshCache();
    const offline = (() => Promise.reject(new TypeError("fetch failed: getaddrinfo ENOTFOUND storage.googleapis.com"))) as typeof fetch;
    await assert.rejects(resolveVgg16WeightsFile({ cacheDir, fetch: offline, log: silentLogger() }), (error: Error) => {
      assert.ok(error.message.includes(vgg16WeightsCachePath(cacheDir)), error.message);
      assert.match(error.message, /model\.vgg16Weights/);
      assert.match(error.message, /FACEOPS_MODEL_VGG16_WEIGHTS/);
      assert.match(error.message, /ENOTFOUND/);
      assert.ok(error.message.includes(vgg16WeightsMd5));
      return true;
    });
  });

  test("a configured path is used as it is, and a missing one is an error naming it", async () => {
    const cacheDir = freshCache();
    const resolved = await resolveVgg16WeightsFile({ source: goodFile, cacheDir, log: silentLogger() });
    assert.deepEqual(resolved, { path: goodFile, origin: "config" });
    const absent = join(scratch, "nowhere", "vgg16.h5");
    await assert.rejects(resolveVgg16WeightsFile({ source: absent, cacheDir, log: silentLogger() }), (error: Error) => {
      assert.ok(error.message.includes(absent));
      assert.match(error.message, /model\.vgg16Weights/);
      return true;
    });
  });
});
