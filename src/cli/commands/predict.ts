import { readFile } from "node:fs/promises";
import { Predictor, publicPrediction, type Prediction, type PublicPrediction } from "../../model/predictor.js";
import { predictRemote, serviceUrl } from "../../serve/client.js";
import type { CommandContext } from "../context.js";
import { printableLines } from "../printable.js";
import { renderTable } from "../table.js";

export interface PredictOptions {
  model?: string;
  url?: string;
  json?: boolean;
  topk?: string;
}

/** One photo's answer, the same whether it came from a local bundle or from a service. */
export interface PhotoResult {
  image: string;
  prediction?: PublicPrediction & { probabilities?: number[] };
  error?: string;
}

/**
 * `faceops predict --model <bundle> <image>...`: top-k labels per photo, straight from a bundle;
 * `faceops predict --url http://host:port <image>...`: the same, asked of a running service.
 */
export async function predictCommand(images: string[], options: PredictOptions, context: CommandContext): Promise<number> {
  if (!options.model === !options.url) throw new Error("faceops predict needs either --model <bundle-dir> or --url <service-url>");
  const topk = Number(options.topk ?? 3);
  if (!Number.isInteger(topk) || topk < 1) throw new Error(`--topk must be a positive integer, received "${options.topk}"`);
  const { model, results } = options.url ? await predictWithService(options.url, images, topk) : await predictWithBundle(options.model as string, images, topk, context);
  process.stdout.write(options.json ? `${JSON.stringify({ model, results }, null, 2)}\n` : `${renderPredictions(results, topk)}\n`);
  return results.some((result) => result.error) ? 1 : 0;
}

/** The answers as a table: photo, answer, top k. Photo names, labels and errors are escaped by the table. */
export function renderPredictions(results: readonly PhotoResult[], topk: number): string {
  const rows = results.map((result) =>
    result.prediction
      ? [result.image, result.prediction.label, result.prediction.topk.map((entry) => `${entry.label} ${(entry.score * 100).toFixed(1)}%`).join(", ")]
      : [result.image, "error", result.error ?? ""],
  );
  return printableLines(renderTable(["IMAGE", "ANSWER", `TOP ${topk}`], rows));
}

async function predictWithBundle(directory: string, images: string[], topk: number, context: CommandContext) {
  const predictor = await Predictor.load(directory, { config: context.loaded.config, log: context.log });
  try {
    const results: PhotoResult[] = [];
    for (const image of images) {
      try {
        const [prediction] = (await predictor.predict([await readFile(image)], topk)) as [Prediction];
        results.push({ image, prediction: { ...publicPrediction(prediction), probabilities: Array.from(prediction.probabilities) } });
      } catch (error) {
        results.push({ image, error: (error as Error).message });
      }
    }
    return { model: { name: predictor.metadata.name, createdAt: predictor.metadata.createdAt, directory: predictor.directory }, results };
  } finally {
    await predictor.dispose();
  }
}

async function predictWithService(url: string, images: string[], topk: number) {
  const base = serviceUrl(url);
  const results: PhotoResult[] = [];
  let model: { name: string; version: string; url: string } | null = null;
  for (const image of images) {
    try {
      const answer = await predictRemote(base, await readFile(image), { topk });
      model = { ...answer.model, url: base.toString() };
      results.push({ image, prediction: answer.results[0] });
    } catch (error) {
      results.push({ image, error: (error as Error).message });
    }
  }
  return { model, results };
}
