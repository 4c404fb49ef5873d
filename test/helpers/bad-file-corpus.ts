import { readFileSync } from "node:fs";
import sharp from "sharp";
import { lfsPointer, pgmFace, pngDeclaring, tinyPng, truncated } from "./bad-files.js";
import type { TestRepo } from "./git-repo.js";
import { lfwPhotos } from "./lfw.js";

/**
 * A face repository with every kind of bad file next to good photos, and the verdict each path
 * must get. Used against a git commit and against a plain folder.
 */
export const expectedRejects: Record<string, string> = {
  "Alice/broken.jpg": "corrupt",
  "Alice/empty.jpg": "empty",
  "Alice/notes.jpg": "not_an_image",
  "Alice/large-file.jpg": "lfs_pointer",
  "Alice/tiny.png": "too_small",
  "Alice/bomb.png": "too_large",
  "Alice/passwd.jpg": "symlink",
  "Alice/raw/extra.jpg": "nested_too_deep",
  "Alice/drawing.svg": "unsupported_format",
  "Alice/copy-of-0001.jpg": "duplicate",
  "Alice/shared.jpg": "label_conflict",
  "Bob/shared.jpg": "label_conflict",
  "Carol/Carol_0001.jpg": "label_too_small",
  "Carol/Carol_0002.jpg": "label_too_small",
  "Carol/Carol_0003.jpg": "label_too_small",
  "stray.jpg": "top_level_file",
  "back\\slash/photo.jpg": "invalid_label",
};

export const expectedLabels = ["Alice", "Att_Subject", "Bob"];

export async function buildCorpus(repo: TestRepo): Promise<void> {
  const alice = lfwPhotos("Amelie_Mauresmo");
  const bob = lfwPhotos("Bill_Gates");
  const carol = lfwPhotos("Condoleezza_Rice");
  alice.slice(0, 6).forEach((photo, index) => repo.copy(photo, `Alice/Alice_000${index + 1}.jpg`));
  bob.slice(0, 6).forEach((photo, index) => repo.copy(photo, `Bob/Bob_000${index + 1}.jpg`));
  carol.slice(0, 3).forEach((photo, index) => repo.copy(photo, `Carol/Carol_000${index + 1}.jpg`));
  for (let subject = 1; subject <= 5; subject++) repo.write(`Att_Subject/${subject}.pgm`, pgmFace(92, 112, subject));

  repo.write("Alice/broken.jpg", truncated(readFileSync(alice[7] as string), 0.6));
  repo.write("Alice/empty.jpg", "");
  repo.write("Alice/notes.jpg", "These are my notes about Alice, saved with the wrong extension.\n");
  repo.write("Alice/large-file.jpg", lfsPointer());
  repo.write("Alice/tiny.png", await tinyPng());
  repo.write("Alice/bomb.png", pngDeclaring(100_000, 100_000));
  repo.symlink("/etc/passwd", "Alice/passwd.jpg");
  repo.copy(alice[8] as string, "Alice/raw/extra.jpg");
  repo.write("Alice/drawing.svg", `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><circle r="40" cx="50" cy="50"/></svg>`);
  repo.copy(alice[0] as string, "Alice/copy-of-0001.jpg");
  const shared = await sharp(readFileSync(bob[9] as string)).flop().jpeg().toBuffer();
  repo.write("Alice/shared.jpg", shared);
  repo.write("Bob/shared.jpg", shared);
  repo.copy(alice[9] as string, "stray.jpg");
  repo.copy(alice[9] as string, "back\\slash/photo.jpg");

  repo.write("README.md", "# Our faces\n");
  repo.write(".gitattributes", "*.jpg binary\n");
  repo.write("Alice/.DS_Store", "junk");
  repo.write("Bob/.gitkeep", "");
}
