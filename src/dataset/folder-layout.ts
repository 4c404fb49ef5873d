import type { RejectReason } from "./rejects.js";

/**
 * The dataset layout is `<label>/<photo>`: one folder per person at the top of the repository.
 * This module decides, from a path alone, whether a file is a candidate photo, to be ignored,
 * or rejected for where it sits. (Where faceops keeps its own files is store/layout.ts.)
 */

/**
 * The folder of strangers: photos of people the model must not name, directly in it or sorted by the
 * person they are not (`_not/<person>/<photo>`). Its name cannot be a person's: faceops' own folders
 * start with an underscore.
 */
export const strangersFolder = "_not";

export type PathVerdict =
  | { kind: "candidate"; label: string }
  | { kind: "ignored" }
  | { kind: "rejected"; reason: RejectReason; message: string };

const imageExtensions = new Set([
  "jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "tif", "tiff", "avif", "heic", "heif", "pgm", "ppm", "pnm", "bmp",
]);

export function hasImageExtension(path: string): boolean {
  const dot = path.lastIndexOf(".");
  return dot >= 0 && imageExtensions.has(path.slice(dot + 1).toLowerCase());
}

/**
 * A folder name becomes a label: Unicode NFC (macOS writes NFD; the same person must not become
 * two labels), trimmed. Returns the reason it cannot be a label, or the label.
 */
export function labelFromFolder(folder: string): { label: string } | { problem: string } {
  const label = folder.normalize("NFC").trim();
  if (label === "") return { problem: "the folder name is blank" };
  if (/\p{Cc}/u.test(label)) return { problem: "the folder name contains control characters" };
  if (label.includes("\\")) return { problem: "the folder name contains a backslash, a path separator on Windows" };
  if (label.startsWith(".")) return { problem: "the folder name starts with a dot" };
  if (label === "unknown") return { problem: `"unknown" is reserved for people the model does not know` };
  return { label };
}

export function classifyPath(path: string): PathVerdict {
  const parts = path.split("/");
  // Hidden files and folders (.git, .gitattributes, .DS_Store, Alice/.gitkeep) are never data.
  if (parts.some((part) => part.startsWith("."))) return { kind: "ignored" };
  if (parts.length === 1) {
    // A README or Jenkinsfile at the top is expected; a photo there is a mistake worth reporting.
    if (!hasImageExtension(path)) return { kind: "ignored" };
    return {
      kind: "rejected",
      reason: "top_level_file",
      message: "the photo is at the top of the repository; put it in a folder named after the person",
    };
  }
  // Hard negatives sorted by who they are not: _not/<person>/<photo> is a photo of the strangers' folder.
  if (parts.length === 3 && parts[0] === strangersFolder && "label" in labelFromFolder(parts[1] as string)) {
    return hasImageExtension(path) ? { kind: "candidate", label: strangersFolder } : { kind: "ignored" };
  }
  if (parts.length > 2) {
    return {
      kind: "rejected",
      reason: "nested_too_deep",
      message: `the file is ${parts.length - 1} folders deep; photos go directly in the person's folder (${parts[0]}/<photo>)`,
    };
  }
  const verdict = labelFromFolder(parts[0] as string);
  if ("problem" in verdict) return { kind: "rejected", reason: "invalid_label", message: `${verdict.problem}: "${parts[0]}"` };
  return { kind: "candidate", label: verdict.label };
}
