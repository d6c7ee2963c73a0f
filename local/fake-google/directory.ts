import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { apiError, sendJson } from "./google-error.ts";
import type { IssuedTokens } from "./issued-tokens.ts";

export const DIRECTORY_GROUPS_PATH = "/admin/directory/v1/groups";
/** The scopes that allow reading groups (the read-only one is what the origin asks for). */
const GROUP_SCOPES = [
  "https://www.googleapis.com/auth/admin.directory.group.readonly",
  "https://www.googleapis.com/auth/admin.directory.group",
];
/** Google's default and largest page of groups. */
const MAX_RESULTS = 200;

export interface DirectoryOptions {
  tokens: IssuedTokens;
  /** Workspace users with an admin role (a delegated token must act as one of them to read groups). */
  admins: () => readonly string[];
  /** Each Workspace user's groups (group e-mail addresses); a user absent here does not exist in the domain. */
  membership: (user: string) => readonly string[] | undefined;
}

/** `GET /admin/directory/v1/groups?userKey=...`: the groups a user belongs to, a page at a time (`nextPageToken`). */
export function serveDirectoryGroups(request: IncomingMessage, response: ServerResponse, options: DirectoryOptions) {
  const token = options.tokens.fromRequest(request.headers.authorization);
  if (!token) return apiError(response, 401, "Request had invalid authentication credentials.", "authError");
  if (token.kind !== "delegated" || !token.scopes.some((scope) => GROUP_SCOPES.includes(scope)))
    return apiError(response, 403, "Request had insufficient authentication scopes.", "insufficientPermissions");
  if (!options.admins().includes(token.principal ?? ""))
    return apiError(response, 403, "Not Authorized to access this resource/api", "forbidden");
  const query = new URL(request.url ?? "/", "http://fake").searchParams;
  const userKey = query.get("userKey");
  if (!userKey) return apiError(response, 400, "Bad Request", "badRequest");
  const groups = options.membership(userKey.toLowerCase());
  if (!groups) return apiError(response, 404, "Resource Not Found: userKey", "notFound");
  const size = Math.min(Number(query.get("maxResults") ?? MAX_RESULTS) || MAX_RESULTS, MAX_RESULTS);
  const start = pageStart(query.get("pageToken"));
  if (start === undefined) return apiError(response, 400, "Invalid Input: pageToken", "invalid");
  const page = groups.slice(start, start + size);
  const next = start + size < groups.length ? Buffer.from(String(start + size)).toString("base64url") : undefined;
  sendJson(response, 200, {
    kind: "admin#directory#groups",
    etag: etag(page),
    // Like Google, a user in no group gets no `groups` key at all.
    ...(page.length > 0 && { groups: page.map(groupResource) }),
    ...(next && { nextPageToken: next }),
  });
}

/** Where a page starts: 0 without a token, undefined for a token this fake did not issue. */
function pageStart(token: string | null): number | undefined {
  if (token === null) return 0;
  const start = Number(Buffer.from(token, "base64url").toString());
  return Number.isInteger(start) && start > 0 ? start : undefined;
}

function groupResource(email: string) {
  return {
    kind: "admin#directory#group",
    id: createHash("sha256").update(email).digest("hex").slice(0, 17),
    etag: etag([email]),
    email,
    name: email.split("@")[0],
    directMembersCount: "1",
    description: "",
    adminCreated: true,
  };
}

const etag = (values: readonly string[]) => `"${createHash("sha256").update(values.join(",")).digest("base64url").slice(0, 27)}"`;
