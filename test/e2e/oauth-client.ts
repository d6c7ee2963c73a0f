import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { followRedirects } from "../../local/idp/headless-sign-in.ts";

/** The loopback callback a native MCP client registers (never actually listened on: the test stops the redirect chain there). */
export const CLIENT_REDIRECT_URI = "http://127.0.0.1:33418/callback";

/**
 * An OAuth client provider as the MCP SDKs (v1 and v2) drive it, kept in memory. The browser step is
 * `signInHeadlessly`, which follows the authorization URL through the edge's consent page and the local IdP.
 */
export class InMemoryOAuthProvider {
  readonly redirectUrl = CLIENT_REDIRECT_URI;
  readonly clientMetadata = {
    client_name: "End-to-end test client",
    redirect_uris: [CLIENT_REDIRECT_URI],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  authorizationUrl?: URL;
  private client?: unknown;
  private storedTokens?: { access_token: string };
  private verifier?: string;
  private discovery?: unknown;
  private expectedState?: string;

  clientInformation = () => this.client as never;
  saveClientInformation = (info: unknown) => {
    this.client = info;
  };
  tokens = () => this.storedTokens as never;
  saveTokens = (tokens: { access_token: string }) => {
    this.storedTokens = tokens;
  };
  state = () => {
    this.expectedState = crypto.randomUUID();
    return this.expectedState;
  };
  saveDiscoveryState = (state: unknown) => {
    this.discovery = state;
  };
  discoveryState = () => this.discovery as never;
  redirectToAuthorization = (url: URL) => {
    this.authorizationUrl = url;
  };
  saveCodeVerifier = (verifier: string) => {
    this.verifier = verifier;
  };
  codeVerifier = () => {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  };

  get accessToken(): string | undefined {
    return this.storedTokens?.access_token;
  }

  /** Plays the user's browser: consent at the edge, sign-in at the IdP, back to the client's redirect URI. Returns its query. */
  async signInHeadlessly(): Promise<URLSearchParams> {
    if (!this.authorizationUrl) throw new Error("the SDK never asked to open the authorization URL");
    const { finalUrl } = await followRedirects(this.authorizationUrl.toString(), {
      approveForms: true,
      stopAt: (url) => `${url.origin}${url.pathname}` === CLIENT_REDIRECT_URI,
    });
    if (finalUrl.searchParams.get("state") !== this.expectedState) throw new Error("state returned to the client does not match");
    return finalUrl.searchParams;
  }
}

/**
 * A provider signed in to the edge whose MCP address is `url`, as a client does it the first time: its first connect is
 * refused (401, which starts the flow), the browser step runs headlessly, and the code is exchanged for tokens.
 */
export async function signedInProvider(url: URL): Promise<InMemoryOAuthProvider> {
  const provider = new InMemoryOAuthProvider();
  await new Client({ name: "sign-in", version: "1.0.0" })
    .connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))
    .catch(() => {});
  await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
  return provider;
}
