import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { temporaryPath } from "./owner.js";

/**
 * Every record in the store is written atomically: a temporary file in the same folder, then a
 * rename over the target. A reader sees the old version or the new one, never half of either, and
 * a crash mid-write leaves at most a stray temporary file, whose name says whose it was (see
 * owner.ts): a controller starting removes those whose writer is provably gone.
 */
export async function writeFileAtomic(path: string, contents: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = await temporaryPath(path, "tmp");
  try {
    await writeFile(temporary, contents, { flush: true });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Pretty-printed by default, for records people read; `compact` for large machine-only files. */
export async function writeJsonAtomic(path: string, value: unknown, options: { compact?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, options.compact ? undefined : 2)}\n`);
}

/** Reads a JSON record, or returns `fallback` when the file does not exist. */
export async function readJsonOr<T>(path: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`store record ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** The names in a folder of records, or none when the folder does not exist yet; any other failure is thrown. */
export async function readdirIfExists(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}
