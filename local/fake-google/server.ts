import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import type { AwsKey } from "./aws-signature.ts";
import { DIRECTORY_GROUPS_PATH, serveDirectoryGroups } from "./directory.ts";
import { type AccountFlag, DIRECTORY_USER_PATH, serveDirectoryUser } from "./directory-user.ts";
import { apiError, oauthError } from "./google-error.ts";
import { IAM_CREDENTIALS_PATH, serveIamCredentials } from "./iam-credentials.ts";
import { type IssuedToken, issuedTokens } from "./issued-tokens.ts";
import { OAUTH_TOKEN_PATH, serveOAuthToken } from "./oauth-token.ts";
import { STS_PATH, serveSts } from "./sts.ts";
import { serveTokenInfo, TOKEN_INFO_PATH } from "./token-info.ts";

/** The Google APIs the fake stands in for, each on its own path of one loopback server. */
export type FakeGoogleApi = "sts" | "iam-credentials" | "oauth-token" | "directory" | "directory-users" | "tokeninfo";

export interface FakeGoogleOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** The workload identity pool provider the STS accepts tokens for. */
  audience: string;
  /** The service account the federated workload may impersonate. */
  serviceAccount: string;
  /** AWS keys whose signatures the STS accepts (AWS itself is not called). */
  awsKeys: AwsKey[];
  /** The scopes the Workspace admin delegated to the service account (domain-wide delegation). */
  delegatedScopes: string[];
  /** Workspace users with an admin role, whom the service account may act as to read groups. */
  admins: string[];
  /** Each Workspace user's groups, by user e-mail. */
  memberships: Record<string, string[]>;
  /** Users of the domain an administrator suspended or archived, by user e-mail (the others are active). */
  accounts?: Record<string, AccountFlag>;
  /** Users' unique ids (what Google sign-in gives as `sub`), by user e-mail; by default one derived from the address. */
  ids?: Record<string, string>;
}

export interface FakeGoogle {
  url: string;
  /** The STS token endpoint (`token_url` of an external_account configuration). */
  stsTokenUrl: string;
  /** The OAuth token endpoint for the JWT-bearer grant (also the `aud` of the delegation JWT). */
  oauthTokenUrl: string;
  /** Changes a user's groups from now on (a new user joins the domain). */
  setGroups(user: string, groups: string[]): void;
  /**
   * Suspends or archives a user's account from now on, or (undefined) makes it active again; `"deleted"` removes the
   * user from the domain (the Directory then answers 404 for them).
   */
  setAccount(user: string, state: AccountFlag | "deleted" | undefined): void;
  /**
   * Makes `user` a new account with this unique id from now on, active and in these groups, as when a deleted leaver's
   * address is given to a new hire (the leaver's id is then unknown).
   */
  addUser(user: string, id: string, groups: string[]): void;
  /** Changes an account's primary address (its id, groups and state go with it); the old address is then free. */
  renameUser(from: string, to: string): void;
  /** The unique id of the account that has this primary address now, if any. */
  userId(user: string): string | undefined;
  /** Makes one API answer 503 like an unavailable Google service, or (undefined) ends the outage. */
  outage(api: FakeGoogleApi | undefined): void;
  /** How many requests each API has received. */
  requests: Record<FakeGoogleApi, number>;
  /** What an access token this fake issued stands for (its kind, the user it acts as, its scopes), or undefined. */
  issued(token: string): IssuedToken | undefined;
  close(): Promise<void>;
}

/**
 * Starts the fake Google APIs on loopback: STS, IAM Credentials, the OAuth token endpoint (and tokeninfo), the Admin
 * Directory (groups list, users.get).
 */
export async function startFakeGoogle(options: FakeGoogleOptions): Promise<FakeGoogle> {
  const tokens = issuedTokens();
  const keys = await generateKeyPair("RS256");
  const kid = (await exportJWK(keys.publicKey)).n?.slice(0, 16) ?? "fake-key";
  const memberships = new Map(Object.entries(options.memberships).map(([user, groups]) => [user.toLowerCase(), groups]));
  const accounts = new Map(Object.entries(options.accounts ?? {}).map(([user, flag]) => [user.toLowerCase(), flag]));
  const ids = new Map(Object.entries(options.ids ?? {}).map(([user, id]) => [user.toLowerCase(), id]));
  const idOf = (user: string) => ids.get(user) ?? createHash("sha256").update(user).digest("hex").slice(0, 21);
  // A userKey with an @ is an address (Google also takes aliases; the fake has none), else an id.
  const findUser = (key: string) => {
    const email = key.includes("@") ? key.toLowerCase() : [...memberships.keys()].find((user) => idOf(user) === key);
    return email !== undefined && memberships.has(email) ? { email, id: idOf(email) } : undefined;
  };
  const requests: Record<FakeGoogleApi, number> = {
    sts: 0,
    "iam-credentials": 0,
    "oauth-token": 0,
    directory: 0,
    "directory-users": 0,
    tokeninfo: 0,
  };
  let down: FakeGoogleApi | undefined;
  let url = "";

  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? "/", "http://fake").pathname;
    const api = apiOf(request.method, path);
    if (!api) return apiError(response, 404, `The requested URL ${path} was not found on this server.`, "notFound");
    requests[api]++;
    if (api === down) return unavailable(api, response);
    if (api === "sts") return serveSts(request, response, { audience: options.audience, awsKeys: options.awsKeys, tokens });
    if (api === "iam-credentials")
      return serveIamCredentials(request, response, {
        serviceAccount: options.serviceAccount,
        tokens,
        signingKey: { kid, privateKey: keys.privateKey },
      });
    if (api === "oauth-token")
      return serveOAuthToken(request, response, {
        tokenUrl: `${url}${OAUTH_TOKEN_PATH}`,
        serviceAccount: options.serviceAccount,
        verifyKey: keys.publicKey,
        delegatedScopes: options.delegatedScopes,
        domainUsers: () => [...memberships.keys()],
        tokens,
      });
    if (api === "tokeninfo") return serveTokenInfo(request, response, tokens);
    if (api === "directory-users")
      return serveDirectoryUser(request, response, {
        tokens,
        admins: () => options.admins,
        find: findUser,
        flag: (user) => accounts.get(user),
      });
    return serveDirectoryGroups(request, response, {
      tokens,
      admins: () => options.admins,
      membership: (user) => memberships.get(user),
    });
  };
  const server = createServer((request, response) => {
    route(request, response).catch((error: Error) =>
      apiError(response, 500, `fake Google failed: ${error.message}`, "backendError"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stsTokenUrl: `${url}${STS_PATH}`,
    oauthTokenUrl: `${url}${OAUTH_TOKEN_PATH}`,
    setGroups: (user, groups) => void memberships.set(user.toLowerCase(), [...groups]),
    setAccount: (user, state) => {
      const key = user.toLowerCase();
      if (state === "deleted") {
        memberships.delete(key);
        accounts.delete(key);
        ids.delete(key);
      } else if (state) accounts.set(key, state);
      else accounts.delete(key);
    },
    addUser: (user, id, groups) => {
      const key = user.toLowerCase();
      memberships.set(key, [...groups]);
      accounts.delete(key);
      ids.set(key, id);
    },
    renameUser: (from, to) => {
      const [old, key] = [from.toLowerCase(), to.toLowerCase()];
      const [groups, flag, id] = [memberships.get(old) ?? [], accounts.get(old), idOf(old)];
      for (const table of [memberships, accounts, ids]) table.delete(old);
      memberships.set(key, groups);
      ids.set(key, id);
      if (flag) accounts.set(key, flag);
    },
    userId: (user) => findUser(user.toLowerCase())?.id,
    outage: (api) => {
      down = api;
    },
    requests,
    issued: tokens.lookUp,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function apiOf(method: string | undefined, path: string): FakeGoogleApi | undefined {
  if (method === "POST" && path === STS_PATH) return "sts";
  if (method === "POST" && IAM_CREDENTIALS_PATH.test(path)) return "iam-credentials";
  if (method === "POST" && path === OAUTH_TOKEN_PATH) return "oauth-token";
  if (method === "GET" && path === DIRECTORY_GROUPS_PATH) return "directory";
  if (method === "GET" && DIRECTORY_USER_PATH.test(path)) return "directory-users";
  if (method === "GET" && path === TOKEN_INFO_PATH) return "tokeninfo";
  return undefined;
}

/** A Google service that is down answers 503 in its own error shape. */
function unavailable(api: FakeGoogleApi, response: ServerResponse) {
  if (api === "sts" || api === "oauth-token" || api === "tokeninfo")
    return oauthError(response, 503, "temporarily_unavailable", "The service is currently unavailable.");
  apiError(response, 503, "The service is currently unavailable.", "backendError");
}
