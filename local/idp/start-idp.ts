// A local OpenID provider standing in for Google Workspace during `npm start` and in tests, built on
// oidc-provider. Authorization code flow only, PKCE S256 required, client_secret_basic or
// client_secret_post at the token endpoint, RS256 id_tokens signed with a key generated at start,
// Google-like claims (sub, email, email_verified, name, hd) plus `groups` under a custom `groups`
// scope. Loopback only, everything in memory, fresh keys and cookie keys at every start.
//
// Sign-in is headless by default (`autoSignIn`, see interactions.ts), so a client that follows
// redirects with a cookie jar gets from the authorization URL to its redirect_uri.
//
// `port: 0` is accepted: the server listens first and the issuer is built from the real port.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";
import Provider, { type Account, type Configuration, interactionPolicy, type KoaContextWithOIDC } from "oidc-provider";
import { listen } from "../../aws/origin/listen.ts";
import { accountClaims, DEV_ACCOUNTS, type DevAccount, findAccountByEmail, findAccountBySub } from "./accounts.ts";
import { escapeHtml, handleInteraction, INTERACTION_PATH, interactionUrl } from "./interactions.ts";
import { createMemoryAdapter } from "./memory-adapter.ts";

export { DEV_ACCOUNTS, type DevAccount } from "./accounts.ts";

export interface IdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface StartIdpOptions {
  /** TCP port; 0 picks a free one (read it back from `issuer`). */
  port: number;
  /** Loopback address to listen on; default 127.0.0.1. Anything else is refused. */
  host?: string;
  clients: IdpClient[];
  /** E-mail of the dev account signed in without any page; false shows an account picker. Default: the first DEV_ACCOUNTS e-mail. */
  autoSignIn?: string | false;
}

export interface RunningIdp {
  /** http://127.0.0.1:<port>, no trailing slash. */
  issuer: string;
  close(): Promise<void>;
}

export const IDP_SCOPES = ["openid", "email", "profile", "groups"] as const;
const SIGNING_ALG = "RS256";

export async function startIdp(options: StartIdpOptions): Promise<RunningIdp> {
  const host = options.host ?? "127.0.0.1";
  const { port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`local IdP: option \`port\` must be an integer from 0 to 65535, got ${String(port)}`);
  }
  if (!isLoopback(host)) {
    throw new Error(
      `local IdP: option \`host\` must be a loopback address (127.0.0.1, ::1 or localhost), got ${JSON.stringify(host)}`,
    );
  }
  if (!Array.isArray(options.clients) || options.clients.length === 0) {
    throw new Error("local IdP: option `clients` must list at least one client");
  }
  for (const client of options.clients) {
    if (!client.clientId || !client.clientSecret || !Array.isArray(client.redirectUris) || client.redirectUris.length === 0) {
      throw new Error(
        `local IdP: client ${JSON.stringify(client.clientId)} needs a clientId, a clientSecret and at least one redirect URI`,
      );
    }
  }
  let autoSignIn: DevAccount | undefined;
  if (options.autoSignIn !== false) {
    const email = options.autoSignIn ?? DEV_ACCOUNTS[0]?.email ?? "";
    autoSignIn = findAccountByEmail(email);
    if (!autoSignIn) {
      throw new Error(
        `local IdP: option \`autoSignIn\` names no dev account: ${JSON.stringify(email)} (known: ${DEV_ACCOUNTS.map((a) => a.email).join(", ")})`,
      );
    }
  }

  // Listen first (so that port 0 works and the issuer carries the real port); until the provider
  // exists, requests get a 503.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end("starting");
  };
  const server = createServer((req, res) => handler(req, res));
  await listen(server, port, host, "the `port` option of startIdp (0 picks a free port)");
  const address = server.address() as AddressInfo;
  const issuer = `http://${isIP(host) === 6 ? `[${host}]` : host}:${address.port}`;

  try {
    const provider = new Provider(issuer, await configuration(options.clients));
    provider.proxy = false;
    provider.on("server_error", (_ctx: unknown, error: unknown) => console.error("local IdP: server error", error));
    const callback = provider.callback();
    handler = (req, res) => {
      const path = req.url ?? "/";
      const done = path.startsWith(INTERACTION_PATH) ? handleInteraction(req, res, { provider, autoSignIn }) : callback(req, res);
      done.catch((error: unknown) => {
        console.error("local IdP: request failed", error);
        if (!res.headersSent) {
          res.statusCode = 500;
          res.setHeader("Content-Type", "text/plain; charset=utf-8");
        }
        res.end("internal error");
      });
    };
  } catch (error) {
    await closeServer(server);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    issuer,
    close() {
      closing ??= closeServer(server);
      return closing;
    },
  };
}

async function configuration(clients: IdpClient[]): Promise<Configuration> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);

  return {
    adapter: createMemoryAdapter(),
    clients: clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [...client.redirectUris],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      // Either method is accepted for any client (oidc-provider treats basic and post alike).
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: SIGNING_ALG,
    })),
    clientAuthMethods: ["client_secret_basic", "client_secret_post"],
    responseTypes: ["code"],
    scopes: [...IDP_SCOPES],
    claims: {
      // Google sends `hd` whenever the account belongs to a Workspace domain.
      openid: ["sub", "hd"],
      email: ["email", "email_verified"],
      profile: ["name"],
      groups: ["groups"],
    },
    // Put the scope claims into the id_token as Google does, not only into userinfo.
    conformIdTokenClaims: false,
    allowOmittingSingleRegisteredRedirectUri: false,
    cookies: { keys: [randomBytes(32).toString("base64url"), randomBytes(32).toString("base64url")] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      resourceIndicators: { enabled: false },
      registration: { enabled: false },
      revocation: { enabled: false },
      introspection: { enabled: false },
      clientCredentials: { enabled: false },
      deviceFlow: { enabled: false },
      backchannelLogout: { enabled: false },
      claimsParameter: { enabled: false },
      requestObjects: { enabled: false },
      userinfo: { enabled: true },
    },
    findAccount(_ctx: KoaContextWithOIDC, sub: string): Account | undefined {
      const account = findAccountBySub(sub);
      if (!account) return undefined;
      return { accountId: account.sub, claims: async () => accountClaims(account) };
    },
    interactions: { policy: policy(), url: (_ctx, interaction) => interactionUrl(interaction.uid) },
    jwks: { keys: [{ ...jwk, kid, alg: SIGNING_ALG, use: "sig" }] },
    pkce: { required: () => true },
    renderError(ctx, out) {
      ctx.type = "html";
      ctx.body =
        `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Error · local IdP</title></head><body>` +
        `<h1>Sign-in error</h1>${Object.entries(out)
          .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
          .join("")}</body></html>\n`;
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
  };
}

/** oidc-provider's login + consent, plus Google's `prompt=select_account` (answered like a login). */
function policy() {
  const prompts = interactionPolicy.base();
  prompts.add(new interactionPolicy.Prompt({ name: "select_account", requestable: true }), 0);
  return prompts;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive connections (fetch keeps them open) would hold close() until they time out.
    server.closeAllConnections();
  });
}
