import { OAuthError } from "@modelcontextprotocol/client";
import { safeText } from "../hosting/failure-text.ts";

/** Form fields of a token request an authorization server may echo whose values are credentials (RFC 6749, 7636, 7523). */
const CREDENTIAL_FIELDS =
  /\b(code|code_verifier|client_secret|client_assertion|assertion|refresh_token|access_token|password)=[^&\s"',;]+/gi;

/**
 * An authorization server's refusal as the origin logs it: its OAuth error code, and its words with what it may echo
 * of the request taken out (the `known` values, as sent and form-encoded; any credential field of a token request),
 * then redacted and bounded as every upstream failure the origin logs.
 */
export function authorizationServerWords(error: unknown, known: readonly (string | undefined)[] = []): string {
  const message = error instanceof Error ? error.message : String(error);
  let text = error instanceof OAuthError ? `${error.code}: ${message}` : message;
  for (const value of known) {
    if (value) text = text.replaceAll(value, "[REDACTED]").replaceAll(encodeURIComponent(value), "[REDACTED]");
  }
  return safeText(text.replace(CREDENTIAL_FIELDS, "$1=[REDACTED]"));
}
