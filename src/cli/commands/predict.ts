import { readFile } from "node:fs/promises";
import { defaultMaxFaces, defaultMinFaceSize, maxFacesLimit, minFaceSizeLimit, Predictor, publicPhotoPrediction, type PhotoPrediction, type PublicFace, type PublicPhotoPrediction } from "../../model/predictor.js";
import { predictRemote, serviceUrl } from "../../serve/client.js";
import { resolveEngineWorkers } from "../../config/schema.js";
import { mapConcurrent } from "../../util/concurrency.js";
import { wholeNumberIn } from "../../util/whole-number.js";
import type { CommandContext } from "../context.js";
import { printableLines } from "../printable.js";
import { renderTable } from "../table.js";

export interface PredictOptions {
  model?: string;
  url?: string;
  json?: boolean;
  topk?: string;
  maxFaces?: string;
  minFaceSize?: string;
}

/** One photo's answer, the same whether it came from a local bundle or from a service. */
export interface PhotoResult {
  image: string;
  prediction?: PublicPhotoPrediction & { probabilities?: number[] };
  error?: string;
}

interface Asked {
  topk: number;
  maxFaces: number;
  minFaceSize: number;
}

/**
 * `faceops predict --model <bundle> <image>...`: every face of each photo with its top-k labels,
 * straight from a bundle; `faceops predict --url http://host:port <image>...`: the same, asked of a
 * running service.
 */
export async function predictCommand(images: string[], options: PredictOptions, context: CommandContext): Promise<number> {
  if (!options.model === !options.url) throw new Error("faceops predict needs either --model <bundle-dir> or --url <service-url>");
  const asked: Asked = {
    topk: integerOption("--topk", options.topk, 3, 1, Number.MAX_SAFE_INTEGER),
    maxFaces: integerOption("--max-faces", options.maxFaces, defaultMaxFaces, 1, maxFacesLimit),
    minFaceSize: integerOption("--min-face-size", options.minFaceSize, defaultMinFaceSize, 0, minFaceSizeLimit),
  };
  const { model, results } = options.url ? await predictWithService(options.url, images, asked) : await predictWithBundle(options.model as string, images, asked, context);
  process.stdout.write(options.json ? `${JSON.stringify({ model, results }, null, 2)}\n` : `${renderPredictions(results, asked.topk)}\n`);
  return results.some((result) => result.error) ? 1 : 0;
}

function integerOption(flag: string, text: string | undefined, fallback: number, low: number, high: number): number {
  if (text === undefined) return fallback;
  const value = wholeNumberIn(text, low, high);
  if (value === null) {
    throw new Error(`${flag} must be an integer from ${low}${high === Number.MAX_SAFE_INTEGER ? " up" : ` to ${high}`}, received "${text}"`);
  }
  return value;
}

/**
 * A face's answer in words: a name the model is not sure of says so (the two-level answer), so a
 * reader does not act on it as on a confident one. A service older than the two-level answer sends
 * no `confident`: its names read as before.
 */
function answerText(face: Pick<PublicFace, "label" | "known" | "confident">): string {
  return face.known && face.confident === false ? `${face.label} (not sure)` : face.label;
}

/**
 * The answers as a table, a row per face: photo, face number (largest first), its box (x,y width x
 * height in the photo's pixels), answer, top k. A photo without a face is one row answered no_face.
 * Photo names, labels and errors are escaped by the table.
 */
export function renderPredictions(results: readonly PhotoResult[], topk: number): string {
  const top = (entries: ReadonlyArray<{ label: string; score: number }>) => entries.map((entry) => `${entry.label} ${(entry.score * 100).toFixed(1)}%`).join(", ");
  const rows = results.flatMap((result): string[][] => {
    const prediction = result.prediction;
    if (!prediction) return [[result.image, "", "", "error", result.error ?? ""]];
    if (prediction.faces.length === 0) return [[result.image, "", "", prediction.label, ""]];
    const found = prediction.facesFound !== null && prediction.facesFound > prediction.faces.length ? ` of ${prediction.facesFound}` : "";
    return prediction.faces.map((face, index) => [
      result.image,
      `${index + 1}${index === 0 ? found : ""}`,
      `${face.box.x},${face.box.y} ${face.box.width}x${face.box.height}`,
      answerText(face),
      top(face.topk),
    ]);
  });
  return printableLines(renderTable(["IMAGE", "FACE", "BOX", "ANSWER", `TOP ${topk}`], rows));
}

/**
 * The photos through a bundle, with the face path in engine.workers threads (0: on this thread):
 * one photo more in flight than there are workers, so none waits for its next photo; the answers
 * are printed in the order the photos were given.
 */
async function predictWithBundle(directory: string, images: string[], asked: Asked, context: CommandContext) {
  const { config } = context.loaded;
  const workers = resolveEngineWorkers(config.engine.workers);
  const predictor = await Predictor.load(directory, { config, log: context.log, workers });
  try {
    const results = await mapConcurrent(images, workers + 1, async (image): Promise<PhotoResult> => {
      try {
        const [prediction] = (await predictor.predict([await readFile(image)], asked.topk, asked)) as [PhotoPrediction];
        return { image, prediction: { ...publicPhotoPrediction(prediction), probabilities: Array.from(prediction.probabilities) } };
      } catch (error) {
        return { image, error: (error as Error).message };
      }
    });
    return { model: { name: predictor.metadata.name, createdAt: predictor.metadata.createdAt, directory: predictor.directory }, results };
  } finally {
    await predictor.dispose();
  }
}

async function predictWithService(url: string, images: string[], asked: Asked) {
  const base = serviceUrl(url);
  const results: PhotoResult[] = [];
  let model: { name: string; version: string; url: string } | null = null;
  for (const image of images) {
    try {
      const answer = await predictRemote(base, await readFile(image), asked);
      model = { ...answer.model, url: base.toString() };
      results.push({ image, prediction: answer.results[0] });
    } catch (error) {
      results.push({ image, error: (error as Error).message });
    }
  }
  return { model, results };
}
