import type { EdgeConfig } from "../../../contract/config/schema.ts";
import {
  ACCOUNT_BY_SUB,
  IDENTITY_GROUPS_ACCOUNT_BY_PARAMETER,
  IDENTITY_GROUPS_MAX_AGE_PARAMETER,
  IDENTITY_GROUPS_PATH,
  IdentityGroups,
  isGoneAccount,
} from "../../../contract/identity-groups.ts";
import { fetchOrigin } from "../../upstream/fetch-origin.ts";
import { GOOGLE_ISSUER } from "../google-issuer.ts";
import { AccountNotActive } from "./account-not-active.ts";
import { keptGroups } from "./kept-groups.ts";

/**
 * The user's groups could not be read: the caller refuses to go on (fail closed). Said by where it failed, Google
 * Workspace or the proxy's own origin (its database down, say), so nobody looks at Google for the origin's fault.
 */
export class GroupsUnavailable extends Error {
  constructor(detail: string, atGoogle = false) {
    super(`your groups could not be ${atGoogle ? "read from Google Workspace" : "looked up by this proxy's origin"}: ${detail}`);
    this.name = "GroupsUnavailable";
  }
}

/**
 * How long a look-up may take, its answer read: a refresh waits for it inside its grant's turn, which must not lapse
 * first (durable-objects/grant-turns.ts); past it the groups count as unavailable (a refresh keeps the old ones).
 */
const GROUPS_ANSWER_MS = 15_000;

/**
 * The look-up's query: the edge's TTL as the bound on a cached answer's age, and with Google as the identity provider,
 * the account asked for by `sub` (contract/identity-groups.ts). Another provider's `sub` is no Workspace id.
 */
function lookUpQuery(config: EdgeConfig): string {
  const query = new URLSearchParams({ [IDENTITY_GROUPS_MAX_AGE_PARAMETER]: String(config.groups.ttlSeconds) });
  if (config.idp.issuer === GOOGLE_ISSUER) query.set(IDENTITY_GROUPS_ACCOUNT_BY_PARAMETER, ACCOUNT_BY_SUB);
  return query.toString();
}

/** Who the groups are asked for: the signed-in user, and the client they are signing in or calling with. */
export interface GroupsSubject {
  sub: string;
  email?: string;
  clientId: string;
}

/**
 * Asks the origin (GET /identity/groups) for the user's Google Workspace groups, under an assertion minted for this
 * and nothing else (`purpose: "groups"`), naming the user by the e-mail the identity provider verified. Only the groups
 * `groups.include` keeps are returned. Throws AccountNotActive when the origin checks accounts and says the user's is
 * not active; an answer without `account` (an origin that does not check) leaves the user as they are. With Google as
 * the identity provider the account is asked for by `sub`; an answer that says it was read so (`accountBy: "sub"`) is
 * this user's alone, one without (an older origin) is the address's, as before.
 */
export async function originGroups(config: EdgeConfig, subject: GroupsSubject): Promise<IdentityGroups> {
  if (!subject.email) throw new GroupsUnavailable("the identity provider gave no e-mail address to look up");
  let response: Response;
  try {
    response = await fetchOrigin(
      config,
      `${IDENTITY_GROUPS_PATH}?${lookUpQuery(config)}`,
      { sub: subject.sub, email: subject.email, client_id: subject.clientId, purpose: "groups" },
      { method: "GET", headers: new Headers({ accept: "application/json" }), signal: AbortSignal.timeout(GROUPS_ANSWER_MS) },
    );
  } catch (error) {
    throw new GroupsUnavailable(`the origin could not be reached (${(error as Error).message})`);
  }
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!response.ok) {
    const said = typeof body?.message === "string" ? body.message : `status ${response.status}`;
    const atGoogle = typeof body?.error === "string" && body.error.startsWith("google_");
    throw new GroupsUnavailable(`the origin answered ${response.status}: ${said}`, atGoogle);
  }
  const parsed = IdentityGroups.safeParse(body);
  if (!parsed.success) throw new GroupsUnavailable("the origin's answer is not a list of groups");
  const { account, accountBy } = parsed.data;
  if (isGoneAccount(account))
    throw new AccountNotActive(account, { sub: subject.sub, email: subject.email }, accountBy === ACCOUNT_BY_SUB);
  if (account !== undefined && account !== "active") console.warn(`groups: the origin named an unknown account state`);
  // The origin's clock stamps checkedAt: one running ahead of this edge's must not make its answers fresh for longer.
  const checkedAt = Math.min(parsed.data.checkedAt, Math.floor(Date.now() / 1000));
  return { ...parsed.data, checkedAt, groups: keptGroups(config, parsed.data.groups) };
}
