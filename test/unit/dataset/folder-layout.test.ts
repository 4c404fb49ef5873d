import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyPath, labelFromFolder } from "../../../src/dataset/folder-layout.js";

test("classifyPath: where a file sits decides whether it can be a photo of someone", () => {
  const table: Array<[string, string]> = [
    ["Alice/1.jpg", "candidate Alice"],
    ["Zoë Ñúñez/photo.png", "candidate Zoë Ñúñez"],
    ["李小龙/1.webp", "candidate 李小龙"],
    ["  Bob  /x.jpg", "candidate Bob"],
    ["README.md", "ignored"],
    ["Jenkinsfile", "ignored"],
    [".gitattributes", "ignored"],
    [".github/workflows/ci.yml", "ignored"],
    ["Alice/.DS_Store", "ignored"],
    ["Alice/.gitkeep", "ignored"],
    ["portrait.JPG", "rejected top_level_file"],
    ["Alice/2024/1.jpg", "rejected nested_too_deep"],
    ["Alice/a/b/c.jpg", "rejected nested_too_deep"],
    ["back\\slash/1.jpg", "rejected invalid_label"],
    ["tab\there/1.jpg", "rejected invalid_label"],
    ["   /1.jpg", "rejected invalid_label"],
    ["unknown/1.jpg", "rejected invalid_label"],
    ["_not/visitor.jpg", "candidate _not"],
    ["_not/Alice/look-alike.jpg", "candidate _not"],
    ["_not/Alice/notes.txt", "ignored"],
    ["_not/unknown/x.jpg", "rejected nested_too_deep"],
    ["_not/Alice/deeper/x.jpg", "rejected nested_too_deep"],
  ];
  for (const [path, expected] of table) {
    const verdict = classifyPath(path);
    const actual = verdict.kind === "candidate" ? `candidate ${verdict.label}` : verdict.kind === "rejected" ? `rejected ${verdict.reason}` : "ignored";
    assert.equal(actual, expected, path);
  }
});

test("labelFromFolder: macOS's decomposed names and Linux's composed names are one person", () => {
  const decomposed = "Zoe\u0308";
  const composed = "Zo\u00eb";
  assert.deepEqual(labelFromFolder(decomposed), { label: composed });
});
