/**
 * A loopback host as the URL parser writes it (`0x7f.1` is 127.0.0.1 by then): what is sent there stays on this
 * computer. One definition for the configuration's URLs, the redirect-URI rules and the error-redirect policy.
 */
export const isLoopbackHost = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
