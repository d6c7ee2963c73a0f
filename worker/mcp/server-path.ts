/**
 * The `<server>` of `/mcp/<server>`, also under the protected-resource metadata prefix, as it appears in the
 * path (still percent-encoded); undefined for any other path. The one place the edge reads a server from a URL.
 */
export function serverSegment(pathname: string): string | undefined {
  return /^(?:\/\.well-known\/oauth-protected-resource)?\/mcp\/([^/]+)\/?$/.exec(pathname)?.[1];
}
