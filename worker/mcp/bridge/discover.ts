import { POLICY_DENIED_CODE } from "../../../contract/config/policy.ts";
import { JSON_RPC } from "../json-rpc-error.ts";
import { exchangeWithOrigin, HOP_VERSION, META, type OriginLink } from "./origin-exchange.ts";
import {
  type ClientDeclaration,
  claimsOf,
  MAX_KEPT_DISCOVER_CHARS,
  type SessionIdentity,
  type SessionRecord,
} from "./session-record.ts";

type Discovered = SessionRecord["discover"];
const INVALID_PARAMS = JSON_RPC.invalidParams;

/** Answers kept as their `ttlMs` allows: `private` ones per user, `public` ones for every user of the server. */
const cache = new Map<string, { discovered: Discovered; until: number }>();
const MAX_CACHED = 1000;

/** An upstream that describes itself in more than a session can keep: no client can change that, an administrator can. */
export class DescriptionTooLarge extends Error {
  constructor(server: string, chars: number) {
    super(
      `server "${server}" describes itself (server/discover: serverInfo, capabilities, instructions) in ${chars} characters, more than a session keeps (${MAX_KEPT_DISCOVER_CHARS}): ask an administrator to shorten its instructions or icons`,
    );
    this.name = "DescriptionTooLarge";
  }
}

/**
 * The origin refused the caller the whole server by policy (its -32003 under id null, answered before anything
 * started; an upstream's own answer carries the request's id). The message is the origin's own, safe to show.
 */
export class RefusedByPolicy extends Error {
  readonly refusal: string;
  constructor(refusal: string) {
    super(`server/discover answered ${POLICY_DENIED_CODE}: ${refusal}`);
    this.refusal = refusal;
  }
}

/**
 * The origin refused what the client declared of itself (its `clientInfo` or `capabilities`, passed on from its
 * `initialize`): the client's own error (-32602), not the server's. The message is the origin's, about the client's
 * own input.
 */
export class DeclarationRefused extends Error {
  readonly refusal: string;
  constructor(refusal: string) {
    super(`server/discover answered ${INVALID_PARAMS}: ${refusal}`);
    this.refusal = refusal;
  }
}

/** Asks the origin what the upstream is, as the client that is initializing would see it (cached as it allows). */
export async function discoverUpstream(
  origin: OriginLink,
  caller: SessionIdentity,
  client: ClientDeclaration,
): Promise<Discovered> {
  const capabilities = JSON.stringify(client.capabilities);
  const publicKey = JSON.stringify([caller.server, capabilities]);
  const privateKey = JSON.stringify([caller.server, capabilities, caller.sub]);
  for (const key of [privateKey, publicKey]) {
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.discovered;
  }
  const params = {
    _meta: {
      [META.protocolVersion]: HOP_VERSION,
      [META.clientCapabilities]: client.capabilities,
      [META.clientInfo]: client.info,
    },
  };
  const request = { id: "discover", method: "server/discover", params };
  for await (const message of exchangeWithOrigin(origin, caller.server, claimsOf(caller), request, AbortSignal.timeout(30_000))) {
    if (message.error?.code === POLICY_DENIED_CODE && message.id === null) throw new RefusedByPolicy(message.error.message);
    if (message.error?.code === INVALID_PARAMS) throw new DeclarationRefused(message.error.message);
    if (message.error) throw new Error(`server/discover answered ${message.error.code}: ${message.error.message}`);
    const result = message.result;
    if (!result) continue;
    const meta = (result._meta ?? {}) as Record<string, unknown>;
    const discovered: Discovered = {
      serverInfo: (meta[META.serverInfo] ?? { name: caller.server, version: "unknown" }) as Discovered["serverInfo"],
      capabilities: (result.capabilities ?? {}) as Discovered["capabilities"],
      instructions: typeof result.instructions === "string" ? result.instructions : undefined,
    };
    const chars = JSON.stringify(discovered).length;
    if (chars > MAX_KEPT_DISCOVER_CHARS) throw new DescriptionTooLarge(caller.server, chars);
    const ttlMs = typeof result.ttlMs === "number" ? result.ttlMs : 0;
    if (ttlMs > 0) {
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(result.cacheScope === "public" ? publicKey : privateKey, { discovered, until: Date.now() + ttlMs });
    }
    return discovered;
  }
  throw new Error("server/discover got no answer");
}
