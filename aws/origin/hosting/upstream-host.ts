import { Client } from "@modelcontextprotocol/client";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { createMcpHandler, type McpHttpHandler } from "@modelcontextprotocol/server";
import type { UpstreamServer } from "../../../contract/config/schema.ts";
import { proxyServer } from "./proxy-server.ts";

/** One running upstream for one user: a stdio child, the MCP client talking to it, and the HTTP handler in front. */
export interface UpstreamHost {
  handler: McpHttpHandler;
  /** The child's process id (for operators and tests). */
  pid: number | null;
  /** Requests in flight; a host is never reaped while this is above zero. */
  active: number;
  lastUsed: number;
  closed: Promise<void>;
  close(): Promise<void>;
}

const CLIENT_INFO = { name: "mcp-edge-proxy-origin", version: "0.1.0" };

/**
 * Starts the child and completes the MCP handshake with it. The child's environment is the SDK's minimal
 * safe set (PATH, HOME, …) plus the server's own `env`: never the origin's secrets.
 */
export async function startStdioHost(
  spec: Extract<UpstreamServer, { transport: "stdio" }>,
  log: (line: string) => void,
): Promise<UpstreamHost> {
  const transport = new StdioClientTransport({
    command: spec.command,
    args: spec.args,
    env: { ...getDefaultEnvironment(), ...spec.env },
    cwd: spec.cwd,
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) log(line);
  });
  const client = new Client(CLIENT_INFO);
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  client.onclose = () => markClosed();
  await client.connect(transport);

  const handler = createMcpHandler(() => proxyServer(client));
  return {
    handler,
    pid: transport.pid,
    active: 0,
    lastUsed: Date.now(),
    closed,
    async close() {
      await handler.close();
      await client.close();
      await closed;
    },
  };
}
