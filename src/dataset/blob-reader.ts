import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { spawnGit } from "./git.js";

/**
 * Reads git blobs through one long-lived `git cat-file --batch` process. Spawning git per photo
 * costs a few milliseconds each, which for 4,000 photos is longer than decoding them; one batch
 * process answers each request in microseconds. Requests are answered in the order they are made.
 */
export class BlobReader {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<{ id: string; resolve: (data: Buffer) => void; reject: (error: Error) => void }> = [];
  private buffered: Buffer = Buffer.alloc(0);
  private failure: Error | null = null;
  private stderr = "";

  constructor(gitDir: string, env: NodeJS.ProcessEnv) {
    // Never with --textconv or --filters: the bytes as committed, through no program of the repository's.
    this.child = spawnGit(["--git-dir", gitDir, "cat-file", "--batch"], { cwd: gitDir, env });
    this.child.stdout.on("data", (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.drain();
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-2000);
    });
    this.child.on("error", (error) => this.fail(new Error(`git cat-file could not start: ${error.message}`, { cause: error })));
    this.child.on("close", (code) => this.fail(new Error(`git cat-file exited with code ${code}: ${this.stderr.trim()}`)));
    this.child.stdin.on("error", (error) => this.fail(error));
  }

  read(blobId: string): Promise<Buffer> {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(blobId)) return Promise.reject(new Error(`"${blobId}" is not a git object id`));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: blobId, resolve, reject });
      this.child.stdin.write(`${blobId}\n`);
    });
  }

  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("close", () => resolve());
      this.child.stdin.end();
    });
  }

  /** Answers every request whose header and body are complete in the buffer. */
  private drain(): void {
    for (;;) {
      const request = this.waiting[0];
      if (!request) return;
      const newline = this.buffered.indexOf(0x0a);
      if (newline < 0) return;
      const header = this.buffered.subarray(0, newline).toString("utf8");
      if (header.endsWith(" missing")) {
        this.buffered = this.buffered.subarray(newline + 1);
        this.waiting.shift();
        request.reject(new Error(`git object ${request.id} is missing from the repository`));
        continue;
      }
      const [, type, sizeText] = header.split(" ");
      const size = Number(sizeText);
      if (!Number.isInteger(size)) {
        this.fail(new Error(`unexpected reply from git cat-file: ${header.slice(0, 200)}`));
        return;
      }
      // The body is followed by one newline.
      if (this.buffered.length < newline + 1 + size + 1) return;
      const body = Buffer.from(this.buffered.subarray(newline + 1, newline + 1 + size));
      this.buffered = this.buffered.subarray(newline + 1 + size + 1);
      this.waiting.shift();
      if (type === "blob") request.resolve(body);
      else request.reject(new Error(`git object ${request.id} is a ${type}, not a file`));
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const request of this.waiting.splice(0)) request.reject(this.failure);
  }
}
