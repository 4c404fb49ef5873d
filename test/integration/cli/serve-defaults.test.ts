import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { networkInterfaces } from "node:os";
import { resolve } from "node:path";
import { after, describe, test } from "node:test";
import { temporaryFolder } from "../../helpers/git-repo.js";

/**
 * `faceops serve` and `faceops up` (both listen through the same code) used to bind 0.0.0.0 by
 * default, offering run records (people's names, paths), /metrics and recognition to the whole
 * network. Started with no host setting, the server listens on loopback alone.
 */

const main = resolve(import.meta.dirname, "../../../src/cli/main.ts");

/** An IPv4 address of this machine other than loopback, when it has one. */
function externalAddress(): string | null {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === "IPv4" && !address.internal) return address.address;
  }
  return null;
}

describe("faceops serve with the default configuration", () => {
  const store = temporaryFolder();
  after(() => store.dispose());

  test("listens on 127.0.0.1 only", { timeout: 120_000 }, async (t) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), main, "--log-format", "json", "serve", "--port", "0"], {
      cwd: store.path,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FACEOPS_STORE: store.path },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    try {
      let output = "";
      const url = await new Promise<string>((found, failed) => {
        child.stderr.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8");
          const match = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"inference service listening"/.exec(output);
          if (match?.[1]) found(match[1]);
        });
        void exited.then((code) => failed(new Error(`faceops serve exited with ${code}:\n${output}`)));
      });
      const listening = new URL(url);
      assert.equal(listening.hostname, "127.0.0.1", `the default address, not every interface: ${url}`);
      assert.equal((await fetch(new URL("/healthz", listening))).status, 200);
      const external = externalAddress();
      if (external) {
        await assert.rejects(fetch(`http://${external}:${listening.port}/healthz`, { signal: AbortSignal.timeout(5_000) }), `${external} is not served`);
      } else {
        t.diagnostic("no non-loopback IPv4 address on this machine: only the listening address is checked");
      }
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
