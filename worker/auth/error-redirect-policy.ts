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
 * on somebody's web page: a loopback address or a native app's own scheme (this computer), or an https callback the
 * known-clients table proves is the vendor's. Any other client is shown the error on a page of the edge's own.
 */
export function errorMayRedirect(destination: ErrorDestination): boolean {
  if (!URL.canParse(destination.redirectUri)) return false;
  const url = new URL(destination.redirectUri);
  if (url.protocol !== "http:" && url.protocol !== "https:") return true;
  if (isLoopbackHost(url.hostname)) return true;
  const recognition = recognizeClient(destination);
  return recognition.client !== null && recognition.verified;
}
