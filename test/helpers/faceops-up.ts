import type { ChildProcess } from "node:child_process";
import { startListeningFaceops } from "./faceops-process.js";

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

  static async start(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; entry?: readonly string[] } = {}): Promise<FaceopsUp> {
    const { child, url, output, exited } = await startListeningFaceops(["--log-format", "json", ...args, "up"], { what: "faceops up", env: options.env, cwd: options.cwd, timeoutMs: options.timeoutMs, entry: options.entry });
    return new FaceopsUp(child, url, output, exited.then(({ code }) => code));
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
