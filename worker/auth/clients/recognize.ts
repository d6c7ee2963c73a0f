import { KNOWN_CLIENTS, type KnownClient } from "./known-clients.ts";

/** What the edge knows of a client at sign-in. */
export interface ClientFacts {
  clientId: string;
  clientName?: string;
  /** The redirect URI this authorization request uses. */
  redirectUri?: string;
  softwareId?: string;
}

/**
 * A recognised client, and whether that is proven: `verified` when its metadata document URL or its https redirect
 * URI belongs to the vendor, not when it rests on a name or id the client chose for itself.
 */
export type Recognition =
  | { client: KnownClient; verified: boolean; by: "metadata-url" | "redirect-uri" | "client-name" | "software-id" }
  | { client: null };

export const UNRECOGNISED: Recognition = { client: null };

/** The known client these facts show, strongest signal first, or `UNRECOGNISED`. */
export function recognizeClient(facts: ClientFacts, table: readonly KnownClient[] = KNOWN_CLIENTS): Recognition {
  for (const [by, matches] of SIGNALS) {
    const client = table.find((candidate) => matches(candidate, facts));
    if (client) return { client, by, verified: by === "metadata-url" || (by === "redirect-uri" && isHttps(facts.redirectUri)) };
  }
  return UNRECOGNISED;
}

type Signal = "metadata-url" | "redirect-uri" | "client-name" | "software-id";

const SIGNALS: readonly [Signal, (client: KnownClient, facts: ClientFacts) => boolean][] = [
  [
    "metadata-url",
    ({ recognisedBy }, { clientId }) => (recognisedBy.metadataUrls ?? []).some((url) => metadataUrlMatches(url, clientId)),
  ],
  ["redirect-uri", ({ recognisedBy }, { redirectUri }) => redirectMatches(recognisedBy, redirectUri)],
  [
    "client-name",
    ({ recognisedBy }, { clientName }) => !!clientName && (recognisedBy.clientNames ?? []).some((name) => name.test(clientName)),
  ],
  ["software-id", ({ recognisedBy }, { softwareId }) => !!softwareId && (recognisedBy.softwareIds ?? []).includes(softwareId)],
];

function metadataUrlMatches(known: string, clientId: string): boolean {
  return known.endsWith("/") ? clientId.startsWith(known) : clientId === known;
}

function redirectMatches(recognisedBy: KnownClient["recognisedBy"], redirectUri: string | undefined): boolean {
  if (!redirectUri) return false;
  if ((recognisedBy.redirectUris ?? []).includes(redirectUri)) return true;
  const scheme = redirectUri.split(":", 1)[0]?.toLowerCase() ?? "";
  return (recognisedBy.redirectSchemes ?? []).includes(scheme);
}

const isHttps = (uri: string | undefined) => !!uri && uri.startsWith("https://");
