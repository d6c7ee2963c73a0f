import type { CimdFetchError } from "@cloudflare/workers-oauth-provider";
import { escapeHtml, htmlPage } from "../html.ts";

/** Why a Client ID Metadata Document could not be had, as far as the person and the edge's operator can act on it. */
export type CimdFailureKind = "url" | "timeout" | "http" | "dns" | "tls" | "connection" | "document";

export interface CimdFailure {
  kind: CimdFailureKind;
  /** The HTTP status the document's host answered (kind `http`). */
  status?: number;
  /** Whether trying again later may help: the host was slow or said it was busy. Else someone must change something. */
  transient: boolean;
}

/**
 * The library's own validation messages (oauth-provider.js, CIMD part): the document arrived but is not one the
 * library accepts. Anything else that is neither a timeout nor an HTTP status is taken as the fetch itself failing.
 */
const DOCUMENT_PROBLEM =
  /^(Client metadata |Invalid |Redirect URI |redirect_uris |client_id "|client_name |CIMD documents |Response exceeded size limit|private_key_jwt |jwks )|must be included in/;

/** Reads the library's failure (`CimdFetchError.detail`, its cause's message) as one of the kinds above. */
export function cimdFailure(detail: string): CimdFailure {
  // The library checks the client ID's own form (no userinfo, no fragment, a clean path) before it fetches anything.
  if (/^Client Identifier URL /.test(detail)) return { kind: "url", transient: false };
  if (/^Client metadata fetch timed out/.test(detail)) return { kind: "timeout", transient: true };
  const status = /^Failed to fetch client metadata: HTTP (\d{3})\b/.exec(detail)?.[1];
  if (status) {
    const code = Number(status);
    return { kind: "http", status: code, transient: code >= 500 || code === 408 || code === 429 };
  }
  if (DOCUMENT_PROBLEM.test(detail)) return { kind: "document", transient: false };
  if (/dns|resolv|getaddrinfo|ENOTFOUND|NXDOMAIN|name not known|no such host/i.test(detail))
    return { kind: "dns", transient: false };
  if (/tls|ssl|certificate/i.test(detail)) return { kind: "tls", transient: false };
  return { kind: "connection", transient: false };
}

const WHY: Record<CimdFailureKind, (failure: CimdFailure) => string> = {
  url: () =>
    "This app's client ID is not a valid address (a user name or password, a #fragment or a malformed path in it), so nothing was fetched.",
  timeout: () => "Its host did not answer within 10 seconds (timeout).",
  http: (failure) => `Its host answered with HTTP status ${failure.status}.`,
  dns: () => "Its host name could not be resolved (DNS).",
  tls: () => "A secure (TLS) connection to its host could not be made.",
  connection: () => "Its host could not be reached: its name did not resolve (DNS), or the connection failed.",
  document: () => "What its host serves there is not a valid client metadata document.",
};

const REACH = "the proxy must be able to fetch that address from the internet to verify this app.";

/** Who must act, where it is the app's publisher and not the proxy's reach to the internet. */
const OPERATOR: Partial<Record<CimdFailureKind, (failure: CimdFailure) => string | undefined>> = {
  url: () => "the app's publisher must fix its client ID.",
  document: () => "the app's publisher does not serve a valid document at that address.",
  http: (failure) => (failure.transient ? undefined : "the app's publisher does not serve a valid document at that address."),
};

/**
 * The page for a client whose metadata document the edge could not fetch or accept at /authorize. "Start again" alone
 * cannot help when the edge itself cannot reach the document (an edge without egress, a proxy in the way): the page
 * names the URL and the kind of failure (never more of the library's message), and says who can act on it.
 */
export function cimdFetchFailurePage(error: CimdFetchError): Response {
  const failure = cimdFailure(error.detail);
  console.warn(
    `client-id-metadata-document: not fetched at /authorize (${failure.kind}${failure.status ? ` ${failure.status}` : ""})`,
  );
  const next = failure.transient
    ? "This may pass: start again from your MCP client in a few minutes. If it keeps failing, tell whoever runs this MCP proxy."
    : "Starting again will not help until this is fixed: tell whoever runs this MCP proxy, with the address and reason above.";
  const operator = `For the proxy's operator: ${OPERATOR[failure.kind]?.(failure) ?? REACH}`;
  return htmlPage(
    "Sign-in failed",
    `<h1>Sign-in failed</h1>
<p>This app could not be verified: the proxy could not get its metadata document from
<span class="host">${escapeHtml(error.metadataUrl)}</span>.</p>
<p>${escapeHtml(WHY[failure.kind](failure))}</p>
<p>${escapeHtml(next)}</p>
<p class="note">${escapeHtml(operator)}</p>`,
    { status: 400 },
  );
}
