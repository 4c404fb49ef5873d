import { createServer } from "node:net";

/**
 * A TCP port free on 127.0.0.1 a moment ago, for programs that take a port on their command line
 * rather than binding 0 themselves. Another process may take it in between: callers retry or accept it.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once("error", failed);
    server.listen(0, "127.0.0.1", listening);
  });
  const address = server.address();
  await new Promise((closed) => server.close(closed));
  if (address === null || typeof address === "string") throw new Error(`no TCP port from ${JSON.stringify(address)}`);
  return address.port;
}
