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
