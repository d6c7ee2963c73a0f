import { ProtocolError, Server } from "@modelcontextprotocol/server";
import { describe, expect, it, vi } from "vitest";
import { keepParamsAsSent } from "../../aws/origin/hosting/params-as-sent.ts";
import { keepToolResultsAsSent } from "../../aws/origin/hosting/tool-results-as-sent.ts";

// The origin reaches into a protected hook of the SDK's Server (forwarding-as-sent.test.ts covers what it does with
// the SDK installed). Here an SDK that changed: a later check after the handler must stand, and a missing hook is said.

type Wrapped = (request: unknown, ctx: unknown) => Promise<unknown>;
type Hooks = { _wrapHandler?: (method: string, handler: Wrapped) => Wrapped };

describe("the SDK handler hook", () => {
  it("lets a tool's result past the SDK's result check only, never past another check after the handler", async () => {
    const server = new Server({ name: "t", version: "1" }, { capabilities: { tools: {} } });
    const hooks = server as unknown as Hooks;
    // Stands for a later SDK whose tools/call wrapper refuses the result for another reason.
    hooks._wrapHandler = (_method, handler) => async (request, ctx) => {
      await handler(request, ctx);
      throw new ProtocolError(-32603, "a later post-handler check refused this result");
    };
    keepToolResultsAsSent(server);
    const wrapped = hooks._wrapHandler?.("tools/call", async () => ({ content: [{ type: "text", text: "unchecked" }] }));
    await expect(wrapped?.({}, {})).rejects.toThrow(/later post-handler check/);

    // The SDK's own result check is the one let past: the upstream's result goes as it was written.
    hooks._wrapHandler = (_method, handler) => async (request, ctx) => {
      await handler(request, ctx);
      throw new ProtocolError(-32602, "Invalid tools/call result: content[0].type");
    };
    keepToolResultsAsSent(server);
    const relayed = hooks._wrapHandler?.("tools/call", async () => ({ content: [{ type: "video" }] }));
    await expect(relayed?.({}, {})).resolves.toEqual({ content: [{ type: "video" }] });
  });

  it("says once in the log when the SDK no longer has the hook", () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      for (let n = 0; n < 3; n++) {
        const server = new Server({ name: "t", version: "1" }, { capabilities: { tools: {} } });
        (server as unknown as Hooks)._wrapHandler = undefined;
        keepParamsAsSent(server);
      }
      expect(warned).toHaveBeenCalledTimes(1);
      expect(String(warned.mock.calls[0]?.[0])).toMatch(
        /no longer has the hook .* request params reach upstreams as the client sent them/,
      );
    } finally {
      warned.mockRestore();
    }
  });
});
