import type { IncomingMessage, ServerResponse } from "node:http";
import { apiError, sendJson } from "./google-error.ts";
import type { IssuedTokens } from "./issued-tokens.ts";

/** `/admin/directory/v1/users/<userKey>`: Admin SDK `users.get`. */
export const DIRECTORY_USER_PATH = /^\/admin\/directory\/v1\/users\/([^/]+)$/;
/** The scopes that allow reading users (the read-only one is what the origin asks for). */
const USER_SCOPES = [
  "https://www.googleapis.com/auth/admin.directory.user.readonly",
  "https://www.googleapis.com/auth/admin.directory.user",
];

/** What an administrator made of an account; an account not named is active. */
export type AccountFlag = "suspended" | "archived";

export interface DirectoryUserOptions {
  tokens: IssuedTokens;
  /** Workspace users with an admin role (a delegated token must act as one of them to read users). */
  admins: () => readonly string[];
  /** The user of the domain a userKey names (their primary e-mail, lower case, or their unique id), if any. */
  find: (userKey: string) => { email: string; id: string } | undefined;
  /** The user's account flag, if an administrator suspended or archived it. */
  flag: (user: string) => AccountFlag | undefined;
}

/**
 * `GET /admin/directory/v1/users/<userKey>` (the user's primary e-mail or unique id, as Google takes either): the user
 * resource, or only the `fields` asked for (Google's partial response, top-level names only). A user the domain does
 * not have is a 404, as a deleted user is.
 */
export function serveDirectoryUser(request: IncomingMessage, response: ServerResponse, options: DirectoryUserOptions) {
  const token = options.tokens.fromRequest(request.headers.authorization);
  if (!token) return apiError(response, 401, "Request had invalid authentication credentials.", "authError");
  if (token.kind !== "delegated" || !token.scopes.some((scope) => USER_SCOPES.includes(scope)))
    return apiError(response, 403, "Request had insufficient authentication scopes.", "insufficientPermissions");
  if (!options.admins().includes(token.principal ?? ""))
    return apiError(response, 403, "Not Authorized to access this resource/api", "forbidden");
  const url = new URL(request.url ?? "/", "http://fake");
  const [, encoded = ""] = DIRECTORY_USER_PATH.exec(url.pathname) ?? [];
  const found = options.find(decodeURIComponent(encoded));
  if (!found) return apiError(response, 404, "Resource Not Found: userKey", "notFound");
  const user = found.email;
  const flag = options.flag(user);
  const resource: Record<string, unknown> = {
    kind: "admin#directory#user",
    id: found.id,
    primaryEmail: user,
    isAdmin: options.admins().includes(user),
    suspended: flag === "suspended",
    ...(flag === "suspended" && { suspensionReason: "ADMIN" }),
    archived: flag === "archived",
  };
  const fields = url.searchParams.get("fields");
  if (!fields) return sendJson(response, 200, resource);
  const wanted = fields.split(",").map((field) => field.trim());
  sendJson(response, 200, Object.fromEntries(Object.entries(resource).filter(([key]) => wanted.includes(key))));
}
