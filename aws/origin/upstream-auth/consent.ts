import { randomUUID } from "node:crypto";
import { ProtocolError, type ServerContext } from "@modelcontextprotocol/server";
import { INPUT_REQUIRED_METHODS, takesUrlElicitation } from "../hosting/caller-capabilities.ts";
import { type ForwardState, type ForwardStateCodec, sealInputRequired } from "../hosting/request-state.ts";

/** The key of the gateway's own consent question among a round's input requests (never an upstream's). */
export const CONSENT_INPUT_KEY = "mcp-edge/upstream-consent";

/**
 * JSON-RPC error of a request that needs the user's consent at an upstream and cannot ask for it (the hop speaks
 * 2026-07-28, where the -32042 URL-elicitation error of 2025-11-25 does not exist): its message and `data.url` give the link.
 */
export const CONSENT_NEEDED_CODE = -32007;

/**
 * The upstream needs this user's consent first: no token is stored, or the upstream refused it and its refresh failed.
 * The consent link is made only when it is shown (each link begins one single-use authorization).
 */
export class UpstreamConsentRequired extends Error {
  readonly server: string;
  readonly link: () => Promise<URL>;

  constructor(server: string, link: () => Promise<URL>) {
    super(`server "${server}" needs you to connect your account first`);
    this.name = "UpstreamConsentRequired";
    this.server = server;
    this.link = link;
  }
}

/** The consent an error (or one of its causes: the SDK's transport may wrap what its fetch threw) asks for. */
export function consentRequiredIn(error: unknown): UpstreamConsentRequired | undefined {
  for (let cause = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++)
    if (cause instanceof UpstreamConsentRequired) return cause;
  return undefined;
}

/**
 * Turns a consent the upstream needs into the question for the user: a URL-mode elicitation as the gateway's own input
 * request (a 2025-11-25 client gets it as `elicitation/create` from its session object), or, where no input request can
 * carry it (a list, or a client without the elicitation `url` capability), JSON-RPC error -32007 naming the link.
 * Undefined when the error is not about consent.
 */
export async function askConsent(
  error: unknown,
  method: string,
  ctx: ServerContext,
  codec: ForwardStateCodec,
  round: ForwardState,
): Promise<Record<string, unknown> | undefined> {
  const consent = consentRequiredIn(error);
  if (!consent) return undefined;
  if (!INPUT_REQUIRED_METHODS.has(method) && fromAggregate(ctx)) {
    // The aggregated endpoint only needs to know, and lists the server's connect tool: a link here would begin an
    // authorization (a stored row, a sealed key) on every list, used by no one.
    throw new ProtocolError(CONSENT_NEEDED_CODE, `server "${consent.server}" needs you to connect your account first`, {
      server: consent.server,
    });
  }
  const url = (await consent.link()).href;
  const message = `Server "${consent.server}" asks you to sign in with your account there and allow this gateway to use it for you. Open the link, then the call goes on.`;
  const elicitation = { mode: "url" as const, message, url, elicitationId: randomUUID() };
  if (!INPUT_REQUIRED_METHODS.has(method) || !takesUrlElicitation(ctx)) {
    throw new ProtocolError(
      CONSENT_NEEDED_CODE,
      `server "${consent.server}" needs you to connect your account first: open ${url} in your browser, then call again`,
      { server: consent.server, url },
    );
  }
  const asking = { [CONSENT_INPUT_KEY]: { method: "elicitation/create", params: elicitation } };
  return sealInputRequired({ resultType: "input_required", inputRequests: asking }, codec, round, ctx);
}

const fromAggregate = (ctx: ServerContext): boolean => ctx.http?.authInfo?.extra?.aggregated === true;
