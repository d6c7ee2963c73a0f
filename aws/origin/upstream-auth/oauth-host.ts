import type { AuthInfo } from "@modelcontextprotocol/server";
import { parseRequestBody } from "../hosting/parsed-request.ts";
import type { ForwardStateCodec } from "../hosting/request-state.ts";
import type { Caller, UpstreamHost } from "../hosting/upstream-host.ts";
import type { TokenOwner } from "../vault/token-vault.ts";
import { CONSENT_INPUT_KEY, consentRequiredIn } from "./consent.ts";
import { answerWithConsent } from "./consent-host.ts";

/** How long a retry that says the user went to the consent page waits for the browser's return before asking again. */
const CONSENT_WAIT_MS = 60_000;
const CONSENT_POLL_MS = 500;

export interface OAuthHostParts {
  /** Connects to the upstream with the user's token (fails with UpstreamConsentRequired while there is none). */
  connect: () => Promise<UpstreamHost>;
  /** Whether the user has a token for this server now. */
  hasToken: (owner: TokenOwner) => Promise<boolean>;
  stateCodec: ForwardStateCodec;
}

/**
 * One user's OAuth-protected upstream. Until the user has consented, the upstream refuses even the handshake, so the
 * connection is made on the first request that finds a token; before that, requests are answered with the consent
 * question. Once connected, everything goes to the real host (whose token fetch asks again after a revocation).
 */
export function oauthHost(parts: OAuthHostParts): UpstreamHost {
  let connected: UpstreamHost | undefined;
  let connecting: Promise<UpstreamHost> | undefined;
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });

  const connect = () => {
    connecting ??= parts.connect().then(
      (host) => {
        connected = host;
        host.closed.then(markClosed);
        return host;
      },
      (error: unknown) => {
        connecting = undefined;
        throw error;
      },
    );
    return connecting;
  };

  return {
    get pid() {
      return null;
    },
    get era() {
      return connected?.era ?? "modern";
    },
    active: 0,
    awaitingClient: () => connected?.awaitingClient() ?? 0,
    lastUsed: Date.now(),
    closed,
    async fetch(request, caller) {
      if (connected) return connected.fetch(request, caller);
      // Read from a copy: the real host reads the request's own body once it is connected.
      const parsed = await parseRequestBody(request.clone());
      if (answersConsent(parsed.parsedBody)) await waitForToken(parts, ownerOf(caller));
      try {
        return (await connect()).fetch(request, caller);
      } catch (error) {
        const consent = consentRequiredIn(error);
        if (!consent) throw error;
        return answerWithConsent(consent, parts.stateCodec, parsed.request, parsed.parsedBody, authInfoOf(caller));
      }
    },
    async close() {
      await connected?.close();
      markClosed();
    },
  };
}

const ownerOf = (caller: Caller): TokenOwner => ({ sub: caller.sub, email: caller.email, server: caller.server });

/** The identity the SDK handler binds a request state to (the same as the real host's, so its states carry over). */
const authInfoOf = (caller: Caller): AuthInfo => ({
  token: "",
  clientId: caller.clientId,
  scopes: [],
  extra: { sub: caller.sub, email: caller.email, server: caller.server },
});

/** A retry that carries the user's answer to the consent question (accepted: they went to the link). */
function answersConsent(body: unknown): boolean {
  const answer = (body as { params?: { inputResponses?: Record<string, { action?: unknown }> } } | undefined)?.params
    ?.inputResponses?.[CONSENT_INPUT_KEY];
  return answer?.action === "accept";
}

async function waitForToken(parts: OAuthHostParts, owner: TokenOwner): Promise<void> {
  const until = Date.now() + CONSENT_WAIT_MS;
  while (Date.now() < until && !(await parts.hasToken(owner)))
    await new Promise((resolve) => setTimeout(resolve, CONSENT_POLL_MS));
}
