import { withDataset } from "../../dataset/check.js";
import type { DatasetManifest } from "../../dataset/manifest.js";
import { rejectReasons, type RejectReason } from "../../dataset/rejects.js";
import { surveyDatasetFaces } from "../../model/dataset-faces.js";
import { summarizeFaces, type FaceReport, type FaceSummary, type FaceWarning } from "../../model/face-survey.js";
import { datasetRequest, type CommandContext } from "../context.js";
import { printable, printableLines } from "../printable.js";
import { renderFaceCounts } from "../face-counts.js";
import { ProgressBar } from "../progress.js";
import { renderTable } from "../table.js";

export interface DatasetCheckOptions {
  commit?: string;
  json?: boolean;
  /** --no-faces: skip finding the faces of the photos (commander sets false). */
  faces?: boolean;
}

/** The manifest as `dataset check` prints it: with the faces of each photo, when crops follow faces. */
export interface DatasetReport extends DatasetManifest {
  images: Array<DatasetManifest["images"][number] & { facesFound?: number }>;
  /** Per photo, what training will do about its faces (face crops only; empty otherwise). */
  warnings: FaceWarning[];
  /** The faces summary: photos per number of faces found, warnings per reason; null without face crops. */
  faces: Omit<FaceSummary, "warnings" | "rejected" | "leftOut"> | null;
}

/** Exit codes are a contract: 0 usable, 2 not usable (fewer than two labels), 1 any error. */
export const exitUsable = 0;
export const exitUnusable = 2;

export async function datasetCheckCommand(location: string, options: DatasetCheckOptions, context: CommandContext): Promise<number> {
  const progress = new ProgressBar("checking photos");
  const started = performance.now();
  let checkedAt = started;
  const { config } = context.loaded;
  const surveyFaces = options.faces !== false && config.model.crop === "face";
  let report: DatasetReport;
  try {
    report = await withDataset(
      datasetRequest(context, location, options.commit, (done, total) => progress.update(done, total)),
      async (manifest, readPhoto) => {
        checkedAt = performance.now();
        progress.finish();
        if (!surveyFaces) return withFaces(manifest, null);
        const finding = new ProgressBar("finding faces");
        try {
          const faces = await surveyDatasetFaces({ manifest, readPhoto, config, store: context.store, log: context.log, onProgress: (done, total) => finding.update(done, total) });
          return withFaces(manifest, faces);
        } finally {
          finding.finish();
        }
      },
    );
  } finally {
    progress.finish();
  }
  const manifest = report;
  const seconds = (checkedAt - started) / 1000;
  const faceSeconds = (performance.now() - checkedAt) / 1000;
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
      faceSeconds: Number(faceSeconds.toFixed(3)),
    },
    "dataset checked",
  );
  if (report.faces) context.log.info({ facesFound: report.faces.facesFound, warnings: report.faces.warningCounts }, "faces in the photos");
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${printableLines(renderSummary(report, seconds, faceSeconds))}\n`);
  return manifest.usable ? exitUsable : exitUnusable;
}

/** The manifest with each photo's face count, the face warnings, and the photos requireFace rejects. */
export function withFaces(manifest: DatasetManifest, faces: FaceReport | null): DatasetReport {
  if (!faces) return { ...manifest, warnings: [], faces: null };
  const { warnings: _warnings, rejected: _rejected, leftOut: _leftOut, ...summary } = summarizeFaces(faces, 0);
  return {
    ...manifest,
    images: manifest.images.map((image) => ({ ...image, facesFound: faces.facesFound[image.path] ?? 0 })),
    rejected: [...manifest.rejected, ...faces.rejected.map((photo) => ({ path: photo.path, reason: "no_face" as const, message: photo.message }))],
    warnings: faces.warnings,
    faces: summary,
  };
}

export function renderSummary(manifest: DatasetReport, seconds: number, faceSeconds = 0): string {
  const { stats } = manifest;
  // Names from the repository (labels, paths, messages quoting them) are escaped cell by cell in the tables.
  const where = printable(manifest.commit ? `${manifest.source} at ${manifest.commit.slice(0, 12)}` : manifest.source);
  const lines = [
    `Dataset      ${where}`,
    `Fingerprint  ${manifest.fingerprint.slice(0, 16)}`,
    `Photos       ${stats.photos} accepted (${stats.train} train, ${stats.test} test) in ${manifest.labels.length} labels; ${stats.rejected} rejected`,
    `Work         ${stats.decoded} decoded, ${stats.cached} from cache, ${stats.ignored} ignored, in ${seconds.toFixed(2)} s`,
    ...(manifest.faces ? [`Faces        ${renderFaceCounts(manifest.faces.facesFound)}, in ${faceSeconds.toFixed(2)} s`] : []),
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
  if (manifest.warnings.length > 0) {
    lines.push(
      "",
      renderTable(
        ["WARNING", "FILE", "FACE BOX", "DETAIL"],
        manifest.warnings.map((warning) => [warning.reason, warning.path, warning.box ? `${warning.box.x},${warning.box.y} ${warning.box.width}x${warning.box.height}` : "-", warning.message]),
      ),
    );
  }
  if (!manifest.usable) {
    lines.push("", `Not usable: ${manifest.labels.length} label(s) left; a classifier needs at least 2 people with enough valid photos.`);
  }
  return lines.join("\n");
}
