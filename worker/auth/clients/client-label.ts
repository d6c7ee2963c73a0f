import type { ConsentDescription } from "@cloudflare/workers-oauth-provider";
import { isLoopbackHost } from "../../../contract/loopback-host.ts";
import type { KnownClient } from "./known-clients.ts";
import { type Recognition, recognizeClient } from "./recognize.ts";

/** How the consent page names the app that asks, and how far that name can be trusted. */
export interface ClientLabel {
  name: string;
  verified: boolean;
  /** One sentence on where the name comes from. */
  note: string;
  /** The note is a warning, shown as one. */
  alarm: boolean;
}

type Facts = Pick<ConsentDescription, "clientId" | "clientName" | "clientDomain" | "redirectUri" | "redirectHost">;

/**
 * The name to show: the table's for a client proven by its metadata URL or vendor callback; otherwise the name the
 * client gave, marked unverified unless a Client ID Metadata Document on its own domain vouches for it (and never
 * when that name is a known client's: a domain cannot vouch for another vendor's app).
 */
export function clientLabel(facts: Facts): ClientLabel {
  const recognition = recognizeClient({ clientId: facts.clientId, clientName: facts.clientName, redirectUri: facts.redirectUri });
  if (recognition.client && recognition.verified) {
    const proof = facts.clientDomain
      ? `its details are published by ${facts.clientDomain}`
      : `it receives access at ${facts.redirectHost}`;
    return { name: recognition.client.displayName, verified: true, note: `Recognised: ${proof}.`, alarm: false };
  }
  // An app on this computer can prove no name, a known one's included: the page's warning ("continue only if you just
  // started signing in from it") is the check there, and an alarm at every local sign-in teaches people to ignore it
  // (s24 hunt pages F7). It stays for a vendor's name whose app never signs in through this computer.
  if (
    !facts.clientDomain &&
    endsOnThisComputer(facts.redirectUri, recognition) &&
    (!recognition.client || signsInLocally(recognition.client))
  ) {
    return {
      name: facts.clientName,
      verified: false,
      note: "Its name is its own: an app on this computer cannot prove it.",
      alarm: false,
    };
  }
  const resemblance = recognition.client ? ` It resembles ${recognition.client.displayName}, but that is not proven.` : "";
  // A domain vouches for its own app, not for the vendor whose name its document borrows.
  if (facts.clientDomain && !recognition.client) {
    return { name: facts.clientName, verified: true, note: `Its details are published by ${facts.clientDomain}.`, alarm: false };
  }
  const chosenBy = facts.clientDomain ? `${facts.clientDomain} chose this name for its app` : "the app chose this name itself";
  return { name: facts.clientName, verified: false, note: `Unverified: ${chosenBy}.${resemblance}`, alarm: true };
}

/**
 * A loopback address, or an app's URI scheme the known-clients table lists for the app it recognised by it: the sign-in
 * ends on the person's computer. Any other scheme proves nothing (`microsoft-edge:https://…` opens a web page: s25
 * review F1).
 */
function endsOnThisComputer(redirectUri: string, recognition: Recognition): boolean {
  if (!URL.canParse(redirectUri)) return false;
  const url = new URL(redirectUri);
  if (url.protocol === "http:" || url.protocol === "https:") return isLoopbackHost(url.hostname);
  return recognition.client !== null && recognition.by === "redirect-uri";
}

const isLoopbackUri = (uri: string) => URL.canParse(uri) && isLoopbackHost(new URL(uri).hostname);

const signsInLocally = ({ quirks, recognisedBy }: KnownClient): boolean =>
  !!(quirks.loopbackAnyPort || quirks.localhostAndLoopbackIp || quirks.privateUseScheme) ||
  (recognisedBy.redirectUris ?? []).some(isLoopbackUri);
