import { Document, isScalar } from "yaml";
import { envNameForKey, type LoadedConfig } from "../../config/load.js";
import { printable, printableLines } from "../printable.js";

/**
 * The effective configuration as YAML, each value that is not a default annotated with where it
 * came from, so "why is the store over there?" has an answer on the same line.
 */
export function renderConfig(loaded: LoadedConfig, format: "yaml" | "json"): string {
  if (format === "json") return `${JSON.stringify(loaded.config, null, 2)}\n`;
  // YAML quotes and escapes control characters in values; the origins in comments and the file name are escaped here.
  const document = new Document(loaded.config);
  for (const [key, origin] of loaded.origins) {
    const node = document.getIn(key.split("."), true);
    if (isScalar(node)) node.comment = ` from ${printable(origin)}`;
  }
  const header = [
    `# faceops effective configuration${loaded.file ? ` (file: ${printable(loaded.file)})` : " (no config file)"}`,
    `# Any key can be set in faceops.yaml, as FACEOPS_<KEY> (e.g. ${envNameForKey("dataset.testFraction")}), or with --set key=value.`,
  ];
  return printableLines(`${header.join("\n")}\n${document.toString()}`);
}
