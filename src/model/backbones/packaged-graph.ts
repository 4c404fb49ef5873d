import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import { loadTf, type TfRuntime } from "../tfjs-engine.js";

/**
 * A TensorFlow.js graph model (model.json plus its .bin shards) that ships inside an npm package,
 * loaded from disk on the TensorFlow.js instance faceops chose (loadTf), so it shares the engine,
 * the backend and the tensor registry with everything else. Nothing is fetched: a package that is
 * not installed is an error naming the package and how to install it.
 *
 * Usage:
 *   const model = await loadPackagedGraphModel({ backbone: "faceres", packageName: "@vladmandic/human", file: "models/faceres.json" });
 *   const output = model.graph.execute(batch, "global_pooling/Mean");
 */

export interface PackagedModelSource {
  /** The backbone that needs it, for error messages. */
  backbone: string;
  /** The npm package holding the files, e.g. "@vladmandic/human". */
  packageName: string;
  /** The graph's model.json, relative to the package's folder. */
  file: string;
}

export interface PackagedGraphModel {
  runtime: TfRuntime;
  graph: tfjs.GraphModel;
  /** The version of the package the files came from. */
  packageVersion: string;
  /** sha256 of model.json followed by every weight shard in manifest order: topology and weights. */
  sha256: string;
}

/** The folder of an installed package, found the way Node finds it, without importing its code. */
export function packageFolder(packageName: string): string | null {
  const require = createRequire(import.meta.url);
  // Several packages list an "exports" map without ./package.json, so the folder is searched for
  // along Node's own lookup path instead of resolved through the package's entry point.
  for (const folder of require.resolve.paths(packageName) ?? []) {
    const candidate = join(folder, packageName);
    if (existsSync(join(candidate, "package.json"))) return candidate;
  }
  return null;
}

interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: unknown;
  weightsManifest: Array<{ paths: string[]; weights: tfjs.io.WeightsManifestEntry[] }>;
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
}

export async function loadPackagedGraphModel(source: PackagedModelSource): Promise<PackagedGraphModel> {
  const folder = packageFolder(source.packageName);
  if (!folder) {
    throw new Error(
      `the ${source.backbone} backbone needs the npm package ${source.packageName}, which is not installed here ` +
        `(install the project's optional dependencies, e.g. npm install ${source.packageName}); no other backbone is chosen in its place`,
    );
  }
  const modelPath = join(folder, source.file);
  let jsonBytes: Buffer;
  try {
    jsonBytes = await readFile(modelPath);
  } catch (error) {
    throw new Error(`the ${source.backbone} backbone's model ${source.file} is missing from ${source.packageName} at ${folder}`, { cause: error });
  }
  const model = JSON.parse(jsonBytes.toString("utf8")) as ModelJson;
  if (model.format !== "graph-model" || !Array.isArray(model.weightsManifest)) {
    throw new Error(`${modelPath} is not a TensorFlow.js graph model (format ${JSON.stringify(model.format)})`);
  }
  const hash = createHash("sha256").update(jsonBytes);
  const shards: Buffer[] = [];
  for (const group of model.weightsManifest) {
    for (const path of group.paths) {
      const shard = await readFile(join(dirname(modelPath), path));
      hash.update(shard);
      shards.push(shard);
    }
  }
  const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
  const runtime = await loadTf();
  const graph = await runtime.tf.loadGraphModel(
    runtime.tf.io.fromMemory({
      modelTopology: model.modelTopology as tfjs.io.ModelArtifacts["modelTopology"],
      weightSpecs: model.weightsManifest.flatMap((group) => group.weights),
      weightData,
      format: model.format,
      generatedBy: model.generatedBy,
      convertedBy: model.convertedBy ?? undefined,
      signature: model.signature as object | undefined,
      userDefinedMetadata: model.userDefinedMetadata as Record<string, object> | undefined,
    }),
  );
  const packageJson = JSON.parse(await readFile(join(folder, "package.json"), "utf8")) as { version?: string };
  return { runtime, graph, packageVersion: packageJson.version ?? "unknown", sha256: hash.digest("hex") };
}
