import { DEFAULT_NAME } from "../client-config/edge-url.ts";
import { DEV_ACCOUNTS } from "./idp/start-idp.ts";

/**
 * What npm start prints once everything is up. The aggregated `/mcp` comes first and is what the client lines use:
 * it is the endpoint the rest of the docs and `npm run client-config` steer to (every server the user may use, as one
 * entry, named as client-config names it); each server's own URL is listed under it.
 */
export function banner(edgeUrl: string, servers: string[], signIn: string | false): string {
  if (servers.length === 0)
    return `
  MCP edge proxy is running (Ctrl-C stops everything), with no servers: the configuration file's "origin" section
  names none. Add them under "servers" (docs/configuration.md) and start again.
`;
  const url = `${edgeUrl}/mcp`;
  const accounts = DEV_ACCOUNTS.map((account) => account.email).join(", ");
  const signInLine = signIn
    ? `signed in automatically as ${signIn} (LOCAL_SIGN_IN=choose to pick one)`
    : `pick one of ${accounts}`;
  const vscode = JSON.stringify({ servers: { [DEFAULT_NAME]: { type: "http", url } } });
  return `
  MCP edge proxy is running (Ctrl-C stops everything).

  MCP URL ............ ${url}   (every server you may use, as one)
  Servers ............ ${servers.map((name) => `${edgeUrl}/mcp/${name}`).join("  ")}   (one each)
  Sign-in ............ local identity provider, ${signInLine}

  Claude Code:  claude mcp add --transport http ${DEFAULT_NAME} ${url}
  VS Code:      add to .vscode/mcp.json  ${vscode}
  Inspector:    npx @modelcontextprotocol/inspector   then Transport "Streamable HTTP", URL ${url}
`;
}
