import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { listen } from "../../aws/origin/listen.ts";

describe("listening", () => {
  it.each([
    ["a name no resolver knows", "no-such-host.invalid"],
    ["another machine's address", "192.0.2.1"],
  ])("says a host that is %s is not this machine's, and what to listen on instead", async (_, host) => {
    const server = createServer();
    await expect(listen(server, 0, host, "PORT")).rejects.toThrow(
      new RegExp(
        `^cannot listen on ${host.replaceAll(".", "\\.")}: it is not an address of this machine \\(E[A-Z_]+\\); listen on one of its own, such as 0\\.0\\.0\\.0 or 127\\.0\\.0\\.1$`,
      ),
    );
    server.close();
  });
});
