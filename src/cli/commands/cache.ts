import { collectFeatureGarbage, featureCacheStats } from "../../model/cache-maintenance.js";
import { formatBytes } from "../../dataset/scan.js";
import type { CommandContext } from "../context.js";
import { renderTable } from "../table.js";

export async function cacheStatsCommand(options: { json?: boolean }, context: CommandContext): Promise<void> {
  const stats = await featureCacheStats(context.store);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ store: context.store.root, ...stats }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `${renderTable(
      ["FEATURE CACHE", "VALUE"],
      [
        ["folder", context.store.features],
        ["photos", stats.photos],
        ["vectors", stats.entries],
        ["size", formatBytes(stats.bytes)],
        ["photos referenced by manifests", stats.referencedPhotos],
        ["manifests", stats.manifests],
      ],
    )}\n`,
  );
}

export async function cacheGcCommand(options: { json?: boolean }, context: CommandContext): Promise<void> {
  const removed = await collectFeatureGarbage(context.store);
  context.log.info({ ...removed }, "feature cache garbage collected");
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ removed }, null, 2)}\n`
      : `removed the features of ${removed.photos} photo(s) no manifest references: ${removed.entries} vectors, ${formatBytes(removed.bytes)}\n`,
  );
}
