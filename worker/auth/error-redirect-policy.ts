import { isLoopbackHost } from "../../contract/loopback-host.ts";
import { recognizeClient } from "./clients/recognize.ts";

/** What decides where an authorization error found before the consent page goes. */
export interface ErrorDestination {
  clientId: string;
  clientName?: string;
  /** The redirect URI the library validated for this client. */
  redirectUri: string;
}

/**
 * Whether an error found in an authorization request, before the user has seen anything, may be sent to the client's
 * redirect URI. OAuth says to redirect (RFC 6749 §4.1.2.1), but with open registration anyone can register
 * `https://phish.example/login`, and a redirect to it from a link on the company's edge host, with no page and no
 * click, is an open redirector (RFC 9700 §4.11.2). So an error is redirected only where that cannot land a person
 * on somebody's web page: a loopback address (this computer), a native app's scheme the known-clients table lists
 * for it, or an https callback the table proves is the vendor's. Any other client is shown the error on a page of the
 * edge's own.
 */
export function errorMayRedirect(destination: ErrorDestination): boolean {
  if (!URL.canParse(destination.redirectUri)) return false;
  const url = new URL(destination.redirectUri);
  const web = url.protocol === "http:" || url.protocol === "https:";
  if (web && isLoopbackHost(url.hostname)) return true;
  const recognition = recognizeClient(destination);
  if (recognition.client === null) return false;
  // A scheme is no proof the sign-in stays on this computer (`microsoft-edge:https://…` opens a web page): only a
  // scheme the table lists for that vendor's app counts (s25 review F1).
  return web ? recognition.verified : recognition.by === "redirect-uri";
}
