import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * The LFW subset shared by every workspace (see its SOURCE.md): 158 people, >= 10 photos each.
 * Found through FACEOPS_LFW_DIR, else as ../shared/datasets/lfw-min10 beside this repository or
 * one of its parents (a CI clone may sit elsewhere), else at the workspace's absolute path.
 */
function findLfw(): string {
  if (process.env.FACEOPS_LFW_DIR) return resolve(process.env.FACEOPS_LFW_DIR);
  for (let folder = resolve(import.meta.dirname, "../.."); folder !== dirname(folder); folder = dirname(folder)) {
    const candidate = join(dirname(folder), "shared", "datasets", "lfw-min10");
    if (existsSync(candidate)) return candidate;
  }
  return "/work/shared/datasets/lfw-min10";
}

export const lfwRoot = findLfw();

export function lfwPhotos(person: string): string[] {
  return readdirSync(join(lfwRoot, person))
    .filter((name) => name.endsWith(".jpg"))
    .sort()
    .map((name) => join(lfwRoot, person, name));
}

/** People with at least `minPhotos` photos, in name order. */
export function lfwPeople(minPhotos = 10): string[] {
  return readdirSync(lfwRoot, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .filter((person) => lfwPhotos(person).length >= minPhotos);
}
