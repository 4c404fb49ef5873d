import { checkDataset } from "../../dataset/check.js";
import type { DatasetManifest } from "../../dataset/manifest.js";
import { rejectReasons, type RejectReason } from "../../dataset/rejects.js";
import { gitCredentials, type CommandContext } from "../context.js";
import { printable, printableLines } from "../printable.js";
import { ProgressBar } from "../progress.js";
import { renderTable } from "../table.js";

export interface DatasetCheckOptions {
  commit?: string;
  json?: boolean;
}

/** Exit codes are a contract: 0 usable, 2 not usable (fewer than two labels), 1 any error. */
export const exitUsable = 0;
export const exitUnusable = 2;

export async function datasetCheckCommand(location: string, options: DatasetCheckOptions, context: CommandContext): Promise<number> {
  const progress = new ProgressBar("checking photos");
  const started = performance.now();
  let manifest: DatasetManifest;
  try {
    manifest = await checkDataset({
      location,
      commit: options.commit,
      dataset: context.loaded.config.dataset,
      store: context.store,
      log: context.log,
      env: context.env,
      credentials: gitCredentials(context),
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.finish();
  }
  const seconds = (performance.now() - started) / 1000;
  const { stats } = manifest;
  context.log.info(
    {
      source: manifest.source,
      commit: manifest.commit,
      fingerprint: manifest.fingerprint,
      labels: manifest.labels.length,
      photos: stats.photos,
      rejected: stats.rejected,
      decoded: stats.decoded,
      cached: stats.cached,
      seconds: Number(seconds.toFixed(3)),
    },
    "dataset checked",
  );
  process.stdout.write(options.json ? `${JSON.stringify(manifest, null, 2)}\n` : `${printableLines(renderSummary(manifest, seconds))}\n`);
  return manifest.usable ? exitUsable : exitUnusable;
}

export function renderSummary(manifest: DatasetManifest, seconds: number): string {
  const { stats } = manifest;
  // Names from the repository (labels, paths, messages quoting them) are escaped cell by cell in the tables.
  const where = printable(manifest.commit ? `${manifest.source} at ${manifest.commit.slice(0, 12)}` : manifest.source);
  const lines = [
    `Dataset      ${where}`,
    `Fingerprint  ${manifest.fingerprint.slice(0, 16)}`,
    `Photos       ${stats.photos} accepted (${stats.train} train, ${stats.test} test) in ${manifest.labels.length} labels; ${stats.rejected} rejected`,
    `Work         ${stats.decoded} decoded, ${stats.cached} from cache, ${stats.ignored} ignored, in ${seconds.toFixed(2)} s`,
    "",
  ];
  const perLabel = new Map(manifest.labels.map((label) => [label, { train: 0, test: 0 }]));
  for (const image of manifest.images) (perLabel.get(image.label) as { train: number; test: number })[image.split]++;
  lines.push(renderTable(["LABEL", "TRAIN", "TEST"], [...perLabel].map(([label, counts]) => [label, counts.train, counts.test])));

  if (manifest.excludedLabels.length > 0) {
    lines.push("", renderTable(["EXCLUDED LABEL", "PHOTOS", "WHY"], manifest.excludedLabels.map((entry) => [entry.label, entry.photos, entry.message])));
  }
  if (manifest.rejected.length > 0) {
    const byReason = new Map<RejectReason, number>();
    for (const rejected of manifest.rejected) byReason.set(rejected.reason, (byReason.get(rejected.reason) ?? 0) + 1);
    lines.push(
      "",
      renderTable(
        ["REJECTED", "FILES", "REASON"],
        [...byReason].map(([reason, count]) => [reason, count, rejectReasons[reason]]),
      ),
      "",
      renderTable(["FILE", "REASON", "DETAIL"], manifest.rejected.map((rejected) => [rejected.path, rejected.reason, rejected.message])),
    );
  }
  if (!manifest.usable) {
    lines.push("", `Not usable: ${manifest.labels.length} label(s) left; a classifier needs at least 2 people with enough valid photos.`);
  }
  return lines.join("\n");
}
