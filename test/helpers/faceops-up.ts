import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const main = resolve(import.meta.dirname, "../../src/cli/main.ts");

/**
 * Arguments for a quick `faceops up` on a test repository: loopback on a free port, polling every
 * 500 ms, the packaged face-embedding backbone, no augmentation.
 */
export function quickUpArguments(store: string, repo: string, extra: readonly string[] = []): string[] {
  return [
    "--store", store,
    "--set", `source.repo=${repo}`,
    "--set", "serve.port=0",
    "--set", "serve.host=127.0.0.1",
    "--set", "serve.checkInterval=500ms",
    "--set", "controller.pollInterval=500ms",
    "--set", "model.backbone=face-embedding",
    "--set", "train.augmentVariants=1",
    ...extra,
  ];
}

/**
 * `faceops up` as a real child process, as a user runs it: its JSON log is collected, its URL read
 * from the "listening" line. kill9() is the crash; stop() the polite SIGTERM.
 */
export class FaceopsUp {
  private output = "";
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    output: string,
    exited: Promise<number | null>,
  ) {
    this.output = output;
    this.exited = exited;
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString("utf8")));
  }

  static async start(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<FaceopsUp> {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), main, "--log-format", "json", ...args, "up"], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    let output = "";
    const url = await new Promise<string>((found, failed) => {
      const timer = setTimeout(() => failed(new Error(`faceops up did not listen within ${options.timeoutMs ?? 60_000} ms:\n${output}`)), options.timeoutMs ?? 60_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        const match = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"inference service listening"/.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          child.stderr?.off("data", onData);
          found(match[1]);
        }
      };
      child.stderr?.on("data", onData);
      void exited.then((code) => {
        clearTimeout(timer);
        failed(new Error(`faceops up exited with ${code} before listening:\n${output}`));
      });
    });
    return new FaceopsUp(child, url, output, exited);
  }

  get log(): string {
    return this.output;
  }

  /** Log records (JSON lines) whose msg matches. */
  records(message: string | RegExp): Array<Record<string, unknown>> {
    return this.output
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => (typeof message === "string" ? record.msg === message : message.test(String(record.msg))));
  }

  async kill9(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    return this.exited;
  }
}

export async function getJson<T = Record<string, unknown>>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((done) => setTimeout(done, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})` : ""}`);
}
