import { createHash } from "node:crypto";
import type { UpstreamServer } from "../../../contract/config/schema.ts";
import type { SecretsProvider } from "../secrets/provider.ts";
import { readValues } from "../secrets/read-values.ts";

/**
 * A digest of the current values of the secrets a stdio server's `env` names, or undefined when it names none (or is
 * not a stdio server). A child's environment is fixed at its start; comparing this digest, taken before the start,
 * with a later one tells whether a secret was rotated under a running child. Only the digest is kept, not the values.
 */
export async function envSecretsFingerprint(spec: UpstreamServer, secrets: SecretsProvider): Promise<string | undefined> {
  if (spec.transport !== "stdio") return undefined;
  const references = Object.entries(spec.env).filter(([, value]) => typeof value !== "string");
  if (references.length === 0) return undefined;
  const values = await readValues(Object.fromEntries(references), secrets);
  const ordered = Object.entries(values).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash("sha256").update(JSON.stringify(ordered)).digest("base64url");
}
