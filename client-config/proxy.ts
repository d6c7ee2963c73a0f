/** The corporate proxy as the caller's environment names it (either case, as curl and npm accept). */
export interface ProxySettings {
  readonly httpsProxy: string;
  readonly noProxy?: string | undefined;
}

export function proxyFromEnv(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const httpsProxy = env.HTTPS_PROXY || env.https_proxy;
  if (!httpsProxy) return undefined;
  return { httpsProxy, noProxy: env.NO_PROXY || env.no_proxy || undefined };
}

/** The variables as a child process reads them. */
export function proxyVariables(proxy: ProxySettings): Record<string, string> {
  return proxy.noProxy ? { HTTPS_PROXY: proxy.httpsProxy, NO_PROXY: proxy.noProxy } : { HTTPS_PROXY: proxy.httpsProxy };
}

/**
 * Whether the proxy URL carries a user name or password (`http://ana:secret@proxy:3128`, or without a scheme). Such a
 * proxy is not copied into client files, where it would sit in plain text, as `--url` with credentials is refused.
 */
export function carriesCredentials(proxy: ProxySettings): boolean {
  return /^(?:[a-z][a-z0-9+.-]*:\/\/)?[^/?#]*@/i.test(proxy.httpsProxy.trim());
}
