import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const main = resolve(import.meta.dirname, "../../src/cli/main.ts");

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ListeningFaceops {
  child: ChildProcess;
  url: string;
  /** What the process logged until it listened (JSON lines on stderr). */
  output: string;
  exited: Promise<Exit>;
}

/**
 * A faceops command (`serve` or `up`) as a real child process, run from source with tsx, with a
 * minimal environment; resolves once its log says where its server listens ("inference service
 * listening", or `listener` for another server, e.g. "controller" for `up --platform kubernetes`),
 * and fails with everything it logged when it exits first or does not listen in time. `entry`: node's
 * arguments that run faceops, e.g. the built dist/cli/main.js as `npm start` does; tsx and src/ unless said.
 */
export async function startListeningFaceops(
  args: string[],
  options: { what: string; listener?: string; nodeOptions?: string[]; entry?: readonly string[]; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number },
): Promise<ListeningFaceops> {
  // Server names are words and spaces: nothing in them a regular expression reads specially.
  const listening = new RegExp(`"url":"(http://[^"]+)"[^\\n]*"msg":"${options.listener ?? "inference service"} listening"`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const entry = options.entry ?? ["--import", import.meta.resolve("tsx"), main];
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), ...entry, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<Exit>((done) => child.once("exit", (code, signal) => done({ code, signal })));
  let output = "";
  const url = await new Promise<string>((found, failed) => {
    const timer = setTimeout(() => failed(new Error(`${options.what} did not listen within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = listening.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        found(match[1]);
      }
    };
    child.stderr?.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      failed(new Error(`${options.what} exited with ${code ?? signal} before listening:\n${output}`));
    });
  });
  return { child, url, output, exited };
}
