/**
 * The decoding attacks of issue 12 (findings 2, 3 and 5) replayed against a real `faceops serve`,
 * to see what they cost the server: its peak RSS and how late /healthz answers meanwhile.
 *
 *   npx tsx bench/decode-attacks.ts [--root <checkout>] [--bundle <dir>] [--only <name>] [--set key=value]... [--label <name>]
 *
 * --root serves with another checkout's code (an older commit, to compare), --bundle reuses a
 * bundle (trained into that folder when it does not exist yet: face-embedding, face crops, two LFW
 * people). Every attack gets a fresh server, warmed with one real photo, so its peak RSS (VmHWM of
 * the server process) is its own; /healthz is asked every 100 ms throughout. Prints a markdown
 * table and writes bench/results/decode-attacks.json (or -<label>.json with --label).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { metadataFile } from "../src/model/bundle.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwPhotos } from "../test/helpers/lfw.js";
import { trainBundle } from "../test/helpers/training.js";

const { values } = parseArgs({
  options: {
    root: { type: "string", default: resolve(import.meta.dirname, "..") },
    bundle: { type: "string" },
    only: { type: "string" },
    label: { type: "string", default: "" },
    set: { type: "string", multiple: true, default: [] },
  },
});
const root = resolve(values.root);
const scratch = mkdtempSync(join(tmpdir(), "faceops-decode-attacks-"));

interface Attack {
  name: string;
  /** Requests sent at once; each is a list of photos and their content type. */
  requests: () => Array<{ photos: Buffer[]; type: string }> | Promise<Array<{ photos: Buffer[]; type: string }>>;
}

const zeroPng = () => sharp({ create: { width: 6300, height: 6300, channels: 3, background: "#000000" } }).png({ compressionLevel: 9 }).toBuffer();

function bigPgm(): Buffer {
  const width = 3300;
  const height = 3000;
  const raster = Buffer.alloc(width * height);
  for (let index = 0; index < raster.length; index++) raster[index] = (index * 7) % 251;
  return Buffer.concat([Buffer.from(`P5\n${width} ${height}\n255\n`, "latin1"), raster]);
}

/** ~8.4 MB of SVG: a huge viewBox and tens of thousands of shapes, all of which librsvg parses. */
function bigSvg(): Buffer {
  const shapes: string[] = [];
  for (let index = 0; shapes.length * 90 < 8_400_000; index++) {
    shapes.push(`<path d="M${index} ${index} L${index + 50000} ${index} L${index} ${index + 50000} Z" fill="#${(index % 4096).toString(16).padStart(3, "0")}"/>`);
  }
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100000 100000" width="100000" height="100000">${shapes.join("")}</svg>`);
}

const attacks: Attack[] = [
  { name: "16 all-zero 6300x6300 PNGs in one request", requests: () => [{ photos: Array.from({ length: 16 }, () => png), type: "image/png" }] },
  { name: "1 upload of one such PNG", requests: () => [{ photos: [png], type: "image/png" }] },
  { name: "14 concurrent uploads of one such PNG", requests: () => Array.from({ length: 14 }, () => ({ photos: [png], type: "image/png" })) },
  { name: "4 concurrent requests of 16 such PNGs", requests: () => Array.from({ length: 4 }, () => ({ photos: Array.from({ length: 16 }, () => png), type: "image/png" })) },
  { name: "16 PGMs of 10 MB in one request", requests: () => [{ photos: Array.from({ length: 16 }, () => pgm), type: "image/x-portable-graymap" }] },
  { name: "4 concurrent 8.4 MB SVGs", requests: () => Array.from({ length: 4 }, () => ({ photos: [svg], type: "image/svg+xml" })) },
  {
    name: "4 concurrent 6300x6300 AVIFs of under 1 KB",
    requests: async () => {
      const avif = await sharp({ create: { width: 6300, height: 6300, channels: 3, background: "#000000" } }).avif({ effort: 0 }).toBuffer();
      return Array.from({ length: 4 }, () => ({ photos: [avif], type: "image/avif" }));
    },
  },
];

let png: Buffer;
let pgm: Buffer;
let svg: Buffer;

async function startServer(bundle: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), join(root, "src/cli/main.ts"), "serve", "--model", bundle, "--port", "0", "--store", join(scratch, "serve-store"), "--set", "serve.host=127.0.0.1", ...values.set.flatMap((setting) => ["--set", setting]), "--log-format", "json"],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ["ignore", "ignore", "pipe"] },
  );
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buffered = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(buffered);
      if (match) resolveUrl(match[1] as string);
    });
    child.on("exit", (code) => reject(new Error(`faceops serve exited with ${code}: ${buffered}`)));
  });
  for (let attempt = 0; ; attempt++) {
    if ((await fetch(`${url}/readyz`).then((response) => response.status, () => 0)) === 200) break;
    if (attempt > 1200) throw new Error(`${url} never became ready`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return {
    url,
    pid: child.pid as number,
    stop: () =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) resolveStop();
        child.on("exit", () => resolveStop());
        child.kill("SIGTERM");
      }),
  };
}

function rssMegabytes(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) / 1024;
}

async function post(url: string, photos: Buffer[], type: string): Promise<number> {
  const form = new FormData();
  photos.forEach((bytes, index) => form.append("image", new Blob([bytes], { type }), `photo-${index + 1}`));
  return fetch(`${url}/v1/predict`, { method: "POST", body: form }).then(
    (response) => response.arrayBuffer().then(() => response.status),
    () => 0,
  );
}

/** Asks /healthz every 100 ms until stopped; the slowest answer, in ms (a failed one counts as Infinity). */
function watchHealth(url: string): { stop(): Promise<number> } {
  let slowest = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) }).then((response) => response.ok, () => false);
      slowest = Math.max(slowest, ok ? performance.now() - started : Number.POSITIVE_INFINITY);
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slowest;
    },
  };
}

try {
  const bundle = values.bundle ? resolve(values.bundle) : join(scratch, "bundle");
  if (!existsSync(join(bundle, metadataFile))) {
    const faces = join(scratch, "faces");
    for (const person of ["Hugo_Chavez", "Serena_Williams"]) {
      mkdirSync(join(faces, person), { recursive: true });
      for (const path of lfwPhotos(person).slice(0, 6)) writeFileSync(join(faces, person, basename(path)), readFileSync(path));
    }
    await trainBundle(faces, new StoreLayout(join(scratch, "store")), { "model.backbone": "face-embedding", "train.augmentVariants": "0" }, bundle);
  }
  png = await zeroPng();
  pgm = bigPgm();
  svg = bigSvg();
  const warmUp = readFileSync(lfwPhotos("Hugo_Chavez")[20] as string);
  const rows: Array<{ attack: string; statuses: string; baselineMb: number; peakMb: number; slowestHealthzMs: number; seconds: number }> = [];
  for (const attack of attacks.filter((candidate) => !values.only || candidate.name.includes(values.only))) {
    const server = await startServer(bundle);
    try {
      await post(server.url, [warmUp], "image/jpeg");
      const baseline = rssMegabytes(server.pid, "VmRSS");
      const requests = await attack.requests();
      const health = watchHealth(server.url);
      const started = performance.now();
      const statuses = await Promise.all(requests.map((request) => post(server.url, request.photos, request.type)));
      const seconds = (performance.now() - started) / 1000;
      const slowest = await health.stop();
      const peak = existsSync(`/proc/${server.pid}`) ? rssMegabytes(server.pid, "VmHWM") : Number.NaN;
      const counts = new Map<number, number>();
      for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
      rows.push({
        attack: attack.name,
        statuses: [...counts].map(([status, count]) => `${count}x ${status || "failed"}`).join(", "),
        baselineMb: baseline,
        peakMb: peak,
        slowestHealthzMs: slowest,
        seconds,
      });
      console.error(JSON.stringify(rows.at(-1)));
    } finally {
      await server.stop();
    }
  }
  console.log(`\nserving code: ${root}${values.set.length > 0 ? `, with ${values.set.join(" ")}` : ""}\n`);
  console.log("| attack | answers | RSS before (MB) | peak RSS (MB) | slowest /healthz (ms) | seconds |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    console.log(`| ${row.attack} | ${row.statuses} | ${row.baselineMb.toFixed(0)} | ${row.peakMb.toFixed(0)} | ${row.slowestHealthzMs.toFixed(0)} | ${row.seconds.toFixed(1)} |`);
  }
  const suffix = values.label ? `-${values.label}` : "";
  writeFileSync(
    join(import.meta.dirname, "results", `decode-attacks${suffix}.json`),
    `${JSON.stringify({ root, settings: values.set, rows, environment: { cpus: cpus().length, node: process.version } }, null, 2)}\n`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
