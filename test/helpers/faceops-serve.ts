import type { ChildProcess } from "node:child_process";
import { startListeningFaceops, type Exit } from "./faceops-process.js";
import { StopWaiting, waitUntil } from "./wait.js";

/**
 * `faceops serve` as a real child process on 127.0.0.1 and a free port, as a user or a kubelet
 * runs it: its JSON log is collected, its URL read from the "listening" line. `nodeOptions` go to
 * Node itself (e.g. --max-old-space-size, to hold the server to a memory limit).
 */
export class FaceopsServe {
  private output: string;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    output: string,
    readonly exited: Promise<Exit>,
  ) {
    this.output = output;
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString("utf8")));
  }

  static async start(args: string[], options: { nodeOptions?: string[]; timeoutMs?: number } = {}): Promise<FaceopsServe> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const { child, url, output, exited } = await startListeningFaceops(["serve", "--port", "0", "--set", "serve.host=127.0.0.1", "--log-format", "json", ...args], {
      what: "faceops serve",
      nodeOptions: options.nodeOptions,
      timeoutMs,
    });
    const server = new FaceopsServe(child, url, output, exited);
    await server.waitUntilReady(timeoutMs);
    return server;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it to be gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    await waitUntil("faceops serve to be ready", async () => {
      if (await fetch(`${this.url}/readyz`).then((response) => response.status === 200, () => false)) return true;
      if (!this.alive) throw new StopWaiting(`faceops serve exited before it was ready:\n${this.output}`);
      return false;
    }, { timeoutMs, everyMs: 100, explain: () => this.output });
  }
}
