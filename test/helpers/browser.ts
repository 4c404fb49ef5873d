import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { chromium as chromiumBinary } from "./tools.js";

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it), headless, with no network beyond loopback use. */
export const chromiumPath = chromiumBinary.path;

export async function launchChromium(): Promise<Browser> {
  if (!chromiumBinary.available()) throw new Error(`headless browser tests need ${chromiumBinary.what}: ${chromiumBinary.howToGet}`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

/**
 * Where a test keeps a screenshot for people to look at: test-artifacts/ at the top of the checkout
 * (ignored by git; CI keeps it as the run's artefacts). Each test names its own file.
 */
export function screenshotPath(name: string): string {
  const folder = resolve(import.meta.dirname, "../../test-artifacts");
  mkdirSync(folder, { recursive: true });
  return join(folder, `${name}.png`);
}
