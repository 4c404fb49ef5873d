import { readFile } from "node:fs/promises";
import { Predictor, type Prediction } from "../../model/predictor.js";
import type { CommandContext } from "../context.js";
import { renderTable } from "../table.js";

export interface PredictOptions {
  model?: string;
  url?: string;
  json?: boolean;
  topk?: string;
}

/** `faceops predict --model <bundle> <image>...`: top-k labels per photo, straight from a bundle. */
export async function predictCommand(images: string[], options: PredictOptions, context: CommandContext): Promise<number> {
  if (!options.model) throw new Error("faceops predict needs --model <bundle-dir>");
  const topk = Number(options.topk ?? 3);
  if (!Number.isInteger(topk) || topk < 1) throw new Error(`--topk must be a positive integer, received "${options.topk}"`);
  const predictor = await Predictor.load(options.model, { config: context.loaded.config, log: context.log });
  try {
    const results: Array<{ image: string; prediction?: Prediction; error?: string }> = [];
    for (const image of images) {
      try {
        const [prediction] = await predictor.predict([await readFile(image)], topk);
        results.push({ image, prediction });
      } catch (error) {
        results.push({ image, error: (error as Error).message });
      }
    }
    const model = { name: predictor.metadata.name, createdAt: predictor.metadata.createdAt, directory: predictor.directory };
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ model, results }, null, 2)}\n`);
    } else {
      const rows = results.map((result) =>
        result.prediction
          ? [result.image, result.prediction.topk.map((entry) => `${entry.label} ${(entry.score * 100).toFixed(1)}%`).join(", ")]
          : [result.image, `error: ${result.error}`],
      );
      process.stdout.write(`${renderTable(["IMAGE", `TOP ${topk}`], rows)}\n`);
    }
    return results.some((result) => result.error) ? 1 : 0;
  } finally {
    await predictor.dispose();
  }
}
