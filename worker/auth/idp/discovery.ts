import { z } from "zod";

/** The part of an OpenID provider's discovery document the edge relies on. */
const ProviderMetadata = z.object({
  issuer: z.string(),
  authorization_endpoint: z.url(),
  token_endpoint: z.url(),
  jwks_uri: z.url(),
});
export type ProviderMetadata = z.infer<typeof ProviderMetadata>;

const CACHE_MS = 60 * 60 * 1000;
const cache = new Map<string, { metadata: ProviderMetadata; fetchedAt: number }>();

/** Reads `<issuer>/.well-known/openid-configuration` (cached for an hour per isolate) and checks it names the same issuer. */
export async function discoverProvider(issuer: string, timeoutMs: number): Promise<ProviderMetadata> {
  const cached = cache.get(issuer);
  if (cached && Date.now() - cached.fetchedAt < CACHE_MS) return cached.metadata;
  const url = `${issuer}/.well-known/openid-configuration`;
  const response = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`identity provider discovery at ${url} answered ${response.status}`);
  const parsed = ProviderMetadata.safeParse(await response.json());
  if (!parsed.success)
    throw new Error(`identity provider discovery at ${url} is not an OpenID configuration: ${parsed.error.message}`);
  // OpenID Connect Discovery §4.3: a document for another issuer must not be used.
  if (parsed.data.issuer !== issuer)
    throw new Error(`identity provider discovery at ${url} names issuer ${parsed.data.issuer}, expected ${issuer}`);
  cache.set(issuer, { metadata: parsed.data, fetchedAt: Date.now() });
  return parsed.data;
}
