import type { EntryShape } from "./clients.ts";
import { type ProxySettings, proxyVariables } from "./proxy.ts";

/** The standard stdio-to-remote bridge (geelen/mcp-remote): it runs the OAuth flow in the browser itself. */
export const BRIDGE_PACKAGE = "mcp-remote";

/**
 * The bridge's version the entries pin: `npx -y` of an unpinned package runs whatever npm serves at each start, on a
 * machine where the bridge holds the user's edge tokens (`~/.mcp-auth`), the risk docs/deploy.md refuses for upstream
 * servers. The newest version docs/clients/compatibility.md records as tested (test/client-config checks they agree);
 * raise both together.
 */
export const BRIDGE_VERSION = "0.15.1";

export type Entry = Record<string, unknown>;

export function buildEntry(shape: EntryShape, url: string, proxy: ProxySettings | undefined): Entry {
  switch (shape) {
    case "type-http":
      return { type: "http", url };
    case "url":
      return { url };
    case "serverUrl":
      return { serverUrl: url };
    case "mcp-remote":
      return bridgeEntry(url, proxy);
  }
}

function bridgeEntry(url: string, proxy: ProxySettings | undefined): Entry {
  // mcp-remote refuses plain http to anything but localhost unless told; the edge's own local run is http.
  const args = ["-y", `${BRIDGE_PACKAGE}@${BRIDGE_VERSION}`, url, ...(url.startsWith("http:") ? ["--allow-http"] : [])];
  if (!proxy) return { command: "npx", args };
  // The desktop apps start the bridge without the login shell's environment, so the proxy goes into the
  // entry: npx needs it to fetch the package, and mcp-remote uses it only with --enable-proxy.
  return { command: "npx", args: [...args, "--enable-proxy"], env: proxyVariables(proxy) };
}
