import type { Transport } from "@modelcontextprotocol/client";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { UpstreamServer } from "../../../contract/config/schema.ts";

export interface OpenedTransport {
  transport: Transport;
  /** The child's process id, for a stdio upstream. */
  pid?: number | null;
}

/**
 * The transport to one user's upstream. A stdio child gets the SDK's minimal safe environment (PATH, HOME, …)
 * plus the server's own `env`: never the origin's secrets.
 */
export function openTransport(spec: UpstreamServer, log: (line: string) => void): OpenedTransport {
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
  return {
    transport,
    get pid() {
      return transport.pid;
    },
  };
}
