import type { SecretReference, SecretsProvider } from "./provider.ts";

/** Each value of a configuration record, a secret reference read from the provider, a string as written. */
export async function readValues(
  values: Record<string, string | SecretReference>,
  secrets: SecretsProvider,
): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(values).map(async ([key, value]) => [
      key,
      typeof value === "string" ? value : await secrets.get(value.secret),
    ]),
  );
  return Object.fromEntries(entries);
}

/** The names of the secrets a configuration record reads (its values that are references). */
export function secretNames(values: Record<string, string | SecretReference>): string[] {
  return Object.values(values).flatMap((value) => (typeof value === "string" ? [] : [value.secret]));
}
