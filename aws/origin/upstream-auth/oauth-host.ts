import { authInfoOf } from "../hosting/caller-auth-info.ts";
import type { ForwardStateCodec } from "../hosting/request-state.ts";
import type { Caller, UpstreamHost } from "../hosting/upstream-host.ts";
import type { TokenOwner } from "../vault/token-vault.ts";
import { CONSENT_INPUT_KEY, CONSENT_NEEDED_CODE, consentRequiredIn } from "./consent.ts";
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
      // Read from a copy: the real host reads the request's own body. Connected or not (a revoked token asks again),
      // a retry that answers the consent question waits for the browser's return, or ends the call on a "no". Only a
      // body that names the question is parsed here: every other call is parsed once, by the host.
      const text = await request.clone().text();
      const body = text.includes(CONSENT_INPUT_KEY) ? parsedOrUndefined(text) : undefined;
      const answer = consentAnswerOf(body);
      if (answer === "decline" || answer === "cancel") return declined(body, caller.server);
      if (answer === "accept") await waitForToken(parts, ownerOf(caller));
      if (connected) return connected.fetch(request, caller);
      try {
        return (await connect()).fetch(request, caller);
      } catch (error) {
        const consent = consentRequiredIn(error);
        if (!consent) throw error;
        return answerWithConsent(consent, parts.stateCodec, request, body ?? parsedOrUndefined(text), authInfoOf(caller));
      }
    },
    async close() {
      await connected?.close();
      markClosed();
    },
  };
}

const ownerOf = (caller: Caller): TokenOwner => ({ sub: caller.sub, email: caller.email, server: caller.server });

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The user's answer to the consent question a retry carries (`accept`: they went to the link), if it carries one. */
function consentAnswerOf(body: unknown): unknown {
  const answer = (body as { params?: { inputResponses?: Record<string, { action?: unknown }> } } | undefined)?.params
    ?.inputResponses?.[CONSENT_INPUT_KEY];
  return answer?.action;
}

/** The end of a call whose user chose not to connect their account: no new link, no call. */
function declined(body: unknown, server: string): Response {
  const id = (body as { id?: unknown } | undefined)?.id;
  const message = `you did not connect your account at server "${server}", so the call was not run; call the tool again to be asked again`;
  const error = { code: CONSENT_NEEDED_CODE, message };
  return Response.json({ jsonrpc: "2.0", id: typeof id === "string" || typeof id === "number" ? id : null, error });
}

async function waitForToken(parts: OAuthHostParts, owner: TokenOwner): Promise<void> {
  const until = Date.now() + CONSENT_WAIT_MS;
  while (Date.now() < until && !(await parts.hasToken(owner)))
    await new Promise((resolve) => setTimeout(resolve, CONSENT_POLL_MS));
}
