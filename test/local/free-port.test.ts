import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, SLICE_SIZE } from "../../local/free-port.ts";

// Ports for side-by-side services in tests: never from the kernel's ephemeral range (an outgoing connection may take
// such a port between the check and the bind), distinct call after call, and never one something listens on.

const EPHEMERAL_RANGES_START = 32_768;
const listeners: Server[] = [];
afterEach(async () => {
  for (const server of listeners.splice(0)) await new Promise((resolve) => server.close(resolve));
});

describe("freePort", () => {
  it("chooses distinct ports below every platform's ephemeral range", async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port).toBeLessThan(EPHEMERAL_RANGES_START);
  });

  it("never returns a port something is listening on", async () => {
    const held = await freePort();
    const server = createServer();
    listeners.push(server);
    await new Promise<void>((resolve) => server.listen(held, "127.0.0.1", resolve));
    // Enough calls to walk this process's whole slice of the range at least once, passing the held port.
    const chosen = new Set<number>();
    for (let call = 0; call < 2 * SLICE_SIZE; call++) chosen.add(await freePort());
    expect(chosen.has(held)).toBe(false);
    // Every other port of the slice, but for a few other processes may hold.
    expect(chosen.size).toBeGreaterThan(SLICE_SIZE - 10);
  });
});
