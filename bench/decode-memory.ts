/**
 * What decoding one large photo costs in memory, per format: the figures behind
 * `decodeMemoryEstimate` (src/vision/decode.ts).
 *
 *   npx tsx bench/decode-memory.ts [--side 6300] [--shrink 2048]
 *
 * Encodes an all-black side x side photo in every format faceops reads (AVIF at 4000 unless
 * --side is smaller, its encoder being slow), then decodes each in a fresh child process, at full
 * size and shrunk to --shrink while decoding, and reports the growth of the child's peak RSS
 * (VmHWM) over its state before the decode, in MB and in bytes per pixel of the photo.
 * Prints a markdown table and writes bench/results/decode-memory.json.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { decodeImage } from "../src/vision/decode.js";
import type { ImageFormat } from "../src/vision/sniff.js";

const { values } = parseArgs({
  options: { side: { type: "string", default: "6300" }, shrink: { type: "string", default: "2048" }, child: { type: "string" }, mode: { type: "string" } },
});

function peakMegabytes(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? Number.NaN) / 1024;
}

if (values.child) {
  // The child: one decode, then report the peak's growth on stdout.
  const bytes = readFileSync(values.child);
  const before = peakMegabytes();
  const maxSide = values.mode === "full" ? undefined : Number(values.shrink);
  const image = await decodeImage(bytes, { maxPixels: 1e9, ...(maxSide === undefined ? {} : { maxSide }) });
  process.stdout.write(JSON.stringify({ growthMb: peakMegabytes() - before, width: image.width, height: image.height }));
} else {
  const side = Number(values.side);
  const scratch = mkdtempSync(join(tmpdir(), "faceops-decode-memory-"));
  try {
    const rows: Array<{ format: string; side: number; mode: string; growthMb: number; bytesPerPixel: number; output: string }> = [];
    const formats: Array<Exclude<ImageFormat, "pgm" | "ppm">> = ["jpeg", "png", "webp", "gif", "tiff", "avif"];
    for (const format of formats) {
      const photoSide = format === "avif" ? Math.min(side, 4000) : side;
      const photo = sharp({ create: { width: photoSide, height: photoSide, channels: 3, background: "#000000" } });
      const path = join(scratch, `black.${format}`);
      writeFileSync(path, await (format === "avif" ? photo.avif({ effort: 0 }) : photo.toFormat(format)).toBuffer());
      for (const mode of ["full", "shrunk"]) {
        const output = execFileSync(process.execPath, ["--import", import.meta.resolve("tsx"), resolve(import.meta.filename), "--child", path, "--mode", mode, "--shrink", values.shrink], { encoding: "utf8" });
        const result = JSON.parse(output) as { growthMb: number; width: number; height: number };
        rows.push({
          format,
          side: photoSide,
          mode: mode === "full" ? "full size" : `shrunk to ${values.shrink}`,
          growthMb: result.growthMb,
          bytesPerPixel: (result.growthMb * 1024 * 1024) / (photoSide * photoSide),
          output: `${result.width}x${result.height}`,
        });
      }
    }
    console.log("| format | photo | decoded | peak RSS growth (MB) | bytes a pixel |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const row of rows) console.log(`| ${row.format} | ${row.side}x${row.side} | ${row.mode} (${row.output}) | ${row.growthMb.toFixed(0)} | ${row.bytesPerPixel.toFixed(1)} |`);
    writeFileSync(join(import.meta.dirname, "results", "decode-memory.json"), `${JSON.stringify({ rows, environment: { cpus: cpus().length, node: process.version } }, null, 2)}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
