import { PASSWORD_UNREADABLE } from "../secrets/aws/database-password.ts";

/** Codes of a database that cannot be reached, or is starting, stopping or failing over (network and SQLSTATE). */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "EAI_AGAIN",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "57014", // query_canceled (the statement timeout)
  "28P01", // invalid_password: refused, also after reading a rotating password again (db/rotating-password.ts)
  PASSWORD_UNREADABLE, // that password could not be read (Secrets Manager unreachable, or access denied)
  "28000", // invalid_authorization_specification
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);

/** SQLSTATE class 53: too many connections, disk full, out of memory. */
const INSUFFICIENT_RESOURCES = "53";

/** What `pg` says when a connection or a query gave up waiting. */
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|connect ECONNREFUSED/i;

/** Whether an error means "the database is not there right now" (a 503 to retry), not a bug (a 500). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith(INSUFFICIENT_RESOURCES))) return true;
  const cause = (error as { cause?: unknown })?.cause;
  if (cause && cause !== error && isDatabaseUnavailable(cause)) return true;
  return UNAVAILABLE_MESSAGES.test(String((error as Error)?.message ?? ""));
}
