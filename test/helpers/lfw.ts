import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";

/** The LFW subset shared by every workspace (see its SOURCE.md): 158 people, >= 10 photos each. */
export const lfwRoot = resolve(import.meta.dirname, "../../../shared/datasets/lfw-min10");

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
