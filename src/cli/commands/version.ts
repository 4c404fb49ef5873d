import { readFileSync } from "node:fs";

/** faceops' own version; package.json sits three folders up from this file both in src/ and in dist/. */
export function faceopsVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
