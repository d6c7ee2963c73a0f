import { base64url } from "jose";
import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { cookieName, readNamedCookie, requestCookies, setNamedCookie } from "./cookies.ts";

/**
 * A sign-in under way (the dashboard's, or the one that ends an upstream's consent) waits in a cookie of its own, named
 * after its state as the OAuth library names its transaction cookies: two started at once in one browser (two tabs, two
 * connection links) each find theirs when they come back, instead of the second overwriting the first (s24 hunt pages
 * F5). Each lives its sign-in's 10 minutes at most and is cleared when used; past MAX_PENDING_SIGN_INS the oldest is
 * forgotten.
 */
export type PendingKind = "sign-in" | "upstream-consent";

/** The most sign-ins of one kind kept under way in a browser: a page that keeps starting them piles up no cookies. */
export const MAX_PENDING_SIGN_INS = 4;

const encoder = new TextEncoder();

/** `<cookie>-<first 16 hex digits of SHA-256(state)>`. */
export async function pendingCookieName(config: EdgeConfig, kind: PendingKind, state: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(state)));
  const hex = Array.from(digest.slice(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${cookieName(config, kind)}-${hex}`;
}

type Pending = Record<string, unknown>;

function decoded(value: string): Pending | undefined {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(base64url.decode(value)));
    return typeof parsed === "object" && parsed !== null ? (parsed as Pending) : undefined;
  } catch {
    return undefined;
  }
}

/** The browser's sign-ins of this kind under way, newest first (by when they started). */
function pendingInRequest(request: Request, config: EdgeConfig, kind: PendingKind): string[] {
  const prefix = `${cookieName(config, kind)}-`;
  return requestCookies(request)
    .filter(([name]) => name.startsWith(prefix) && /^[0-9a-f]{16}$/.test(name.slice(prefix.length)))
    .map(([name, value]) => ({ name, at: Number(decoded(value)?.at) || 0 }))
    .sort((a, b) => b.at - a.at)
    .map(({ name }) => name);
}

/**
 * The Set-Cookie values that keep `value` (with `state` in it) for `seconds`, and forget the oldest other sign-ins of
 * its kind this browser holds past MAX_PENDING_SIGN_INS.
 */
export async function keepPending<Value extends { state: string }>(
  request: Request,
  config: EdgeConfig,
  kind: PendingKind,
  value: Value,
  seconds: number,
): Promise<string[]> {
  const name = await pendingCookieName(config, kind, value.state);
  const others = pendingInRequest(request, config, kind).filter((other) => other !== name);
  const forgotten = others.slice(MAX_PENDING_SIGN_INS - 1).map((other) => setNamedCookie(config, other, "", 0));
  const kept = base64url.encode(JSON.stringify({ ...value, at: Date.now() }));
  return [setNamedCookie(config, name, kept, seconds), ...forgotten];
}

/** What this browser keeps for the sign-in of `state`, if it holds one for exactly that state. */
export async function pendingOf(
  request: Request,
  config: EdgeConfig,
  kind: PendingKind,
  state: string | null,
): Promise<Pending | undefined> {
  if (!state) return undefined;
  const value = readNamedCookie(request, await pendingCookieName(config, kind, state));
  const pending = value === undefined ? undefined : decoded(value);
  return pending?.state === state ? pending : undefined;
}

/** The Set-Cookie value that ends the sign-in of `state` in this browser. */
export const forgetPending = async (config: EdgeConfig, kind: PendingKind, state: string): Promise<string> =>
  setNamedCookie(config, await pendingCookieName(config, kind, state), "", 0);
