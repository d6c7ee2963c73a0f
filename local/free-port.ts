import { createServer } from "node:net";

/**
 * Ports are chosen below the kernel's ephemeral range (Linux 32768–60999, macOS and Windows 49152–65535). A port the
 * kernel hands out for `listen(0)` is an ephemeral one, and every outgoing connection on the machine may take the same
 * port as its local end between our check and the service's own bind: with parallel test files making thousands of
 * connections, that happened (wrangler's edge port, taken before it started).
 */
const FIRST_PORT = 20_000;
const LAST_PORT = 32_767;
/** Parallel test workers each draw from their own slice of the range, so two workers never race for one port. */
const SLICES = 64;
/** Ports in each slice (exported for its test). */
export const SLICE_SIZE = Math.floor((LAST_PORT - FIRST_PORT + 1) / SLICES);

const slice = Number(process.env.VITEST_POOL_ID ?? process.pid) % SLICES;
const sliceStart = FIRST_PORT + slice * SLICE_SIZE;
/** Where in the slice this process starts: a random place, so that a child process sharing the slice starts elsewhere. */
let next = Math.floor(Math.random() * SLICE_SIZE);

/**
 * A port free right now on 127.0.0.1, for tests and benches that run several services side by side. Each call
 * returns another port (it walks this process's slice), so ports chosen one after another are distinct even
 * before anything binds them.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < SLICE_SIZE; tried++) {
    const port = sliceStart + (next++ % SLICE_SIZE);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${sliceStart} and ${sliceStart + SLICE_SIZE - 1}`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}
