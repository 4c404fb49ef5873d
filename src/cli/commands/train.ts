import { recordManifest, withDataset } from "../../dataset/check.js";
import { saveBundle, type BundleMetadata } from "../../model/bundle.js";
import { configuredTraining, trainModel } from "../../model/train.js";
import { openTrainingRuntime } from "../../model/training-runtime.js";
import type { ConfigOverride } from "../../config/load.js";
import { datasetRequest, type CommandContext } from "../context.js";
import { renderFaceCounts } from "../face-counts.js";
import { printable, printableLines } from "../printable.js";
import { ProgressBar } from "../progress.js";
import { renderTable } from "../table.js";

export interface TrainOptions {
  out: string;
  commit?: string;
  backbone?: string;
  epochs?: string;
  lr?: string;
  json?: boolean;
}

/** `--backbone`, `--epochs` and `--lr` are shorthands for config keys, so they validate the same way. */
export function trainOverrides(options: Pick<TrainOptions, "backbone" | "epochs" | "lr">): ConfigOverride[] {
  const overrides: ConfigOverride[] = [];
  if (options.backbone !== undefined) overrides.push({ key: "model.backbone", value: options.backbone, origin: "--backbone" });
  if (options.epochs !== undefined) overrides.push({ key: "train.epochs", value: options.epochs, origin: "--epochs" });
  if (options.lr !== undefined) overrides.push({ key: "train.learningRate", value: options.lr, origin: "--lr" });
  return overrides;
}

export async function trainCommand(location: string, options: TrainOptions, context: CommandContext): Promise<number> {
  const { config } = context.loaded;
  const runtime = await openTrainingRuntime({ config, store: context.store, log: context.log });
  try {
    const embedding = new ProgressBar("embedding photos");
    const epochs = new ProgressBar("training head");
    const outcome = await withDataset(
      datasetRequest(context, location, options.commit),
      async (manifest, readPhoto) => {
        await recordManifest(context.store, manifest);
        const trained = await trainModel({
          manifest,
          readPhoto,
          ...configuredTraining(config, runtime, context.store),
          log: context.log,
          onFeatureProgress: (done, total) => embedding.update(done, total),
          onEpoch: (curve) => {
            embedding.finish();
            epochs.update(curve.epoch, config.train.epochs, `loss ${curve.trainLoss.toFixed(4)} acc ${curve.trainAccuracy.toFixed(3)} test acc ${curve.testAccuracy.toFixed(3)}`);
            context.log.debug({ ...curve }, "epoch");
          },
        });
        epochs.finish();
        return trained;
      },
    );
    const metadata = await saveBundle(options.out, { metadata: outcome.metadata, head: outcome.head, scaling: outcome.scaling, references: outcome.references, tf: runtime.tf });
    outcome.head.dispose();
    context.log.info(
      {
        out: options.out,
        accuracy: metadata.metrics.accuracy,
        balancedAccuracy: metadata.metrics.balancedAccuracy,
        backbone: metadata.backbone.id,
        engine: metadata.backbone.engine,
        forwardPasses: runtime.backbone.forwardPasses,
        cachedVectors: outcome.featureStats.cached,
      },
      "model trained",
    );
    process.stdout.write(options.json ? `${JSON.stringify(metadata, null, 2)}\n` : `${renderTrainingSummary(metadata, runtime.backbone.forwardPasses, options.out)}\n`);
    return 0;
  } finally {
    await runtime.dispose();
  }
}

/** The summary `faceops train` prints. Paths, labels and the dataset's source are escaped: they come from the repository and the command line. */
export function renderTrainingSummary(metadata: BundleMetadata, forwardPasses: number, out: string): string {
  const { metrics, backbone, dataset } = metadata;
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  const lines = [
    `Model        ${printable(out)}`,
    `Dataset      ${printable(dataset.source)}${dataset.commit ? ` at ${printable(dataset.commit.slice(0, 12))}` : ""} (${dataset.train} train, ${dataset.test} test photos, ${metadata.labels.length} labels)`,
    `Backbone     ${printable(`${backbone.id} on ${backbone.engine}`)}${backbone.randomWeights ? " (RANDOM WEIGHTS: for tests and benchmarks only)" : ""}; ${forwardPasses} forward passes this run`,
    `Crop         ${printable(`${metadata.crop.mode}: ${Object.entries(metadata.crop.counts).filter(([, count]) => count > 0).map(([outcome, count]) => `${count} ${outcome}`).join(", ")}`)}`,
    ...(metadata.faces
      ? [
          `Faces        ${renderFaceCounts(metadata.faces.facesFound)}; warnings: ${Object.entries(metadata.faces.warningCounts).map(([reason, count]) => `${count} ${reason}`).join(", ")}${metadata.faces.rejected.length > 0 ? `; ${metadata.faces.rejected.length + (metadata.faces.leftOut > 0 ? "+" : "")} rejected` : ""} (faceops dataset check lists them)`,
        ]
      : []),
    `Test         accuracy ${percent(metrics.accuracy)}, balanced ${percent(metrics.balancedAccuracy)}, top-3 ${percent(metrics.top3Accuracy)}, loss ${metrics.loss.toFixed(4)}`,
    `Baseline     nearest class mean ${percent(metrics.nearestClassMeanAccuracy)}`,
    ...(metadata.openSet
      ? [
          `Open set     "unknown" beyond distance ${metadata.openSet.maxDistance.toFixed(3)} (${printable(metadata.openSet.source)}) from ${metadata.openSet.references} training photos; rejects ${percent(metrics.knownRejectedRate ?? 0)} of known test photos`,
        ]
      : []),
    "",
    renderTable(
      ["EPOCH", "TRAIN LOSS", "TRAIN ACC", "TEST LOSS", "TEST ACC"],
      metrics.curves.map((curve) => [curve.epoch, curve.trainLoss.toFixed(4), percent(curve.trainAccuracy), curve.testLoss.toFixed(4), percent(curve.testAccuracy)]),
    ),
  ];
  const weakest = [...metrics.perLabel].filter((entry) => entry.support > 0).sort((a, b) => a.f1 - b.f1).slice(0, 5);
  if (weakest.length > 0) {
    lines.push("", renderTable(["WEAKEST LABELS", "PRECISION", "RECALL", "F1", "TEST PHOTOS"], weakest.map((entry) => [entry.label, percent(entry.precision), percent(entry.recall), percent(entry.f1), entry.support])));
  }
  return printableLines(lines.join("\n"));
}
