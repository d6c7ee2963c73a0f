import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { UserProps } from "../../env.ts";
import { groupsFromClaim } from "../groups/claim-groups.ts";
import { keptGroups } from "../groups/kept-groups.ts";
import type { ProviderMetadata } from "./discovery.ts";

const keySets = new Map<string, JWTVerifyGetKey>();

/** The IdP's signing keys from its JWKS, cached per isolate (jose refetches on an unknown `kid`). */
export function idpKeys(provider: ProviderMetadata): JWTVerifyGetKey {
  let keys = keySets.get(provider.jwks_uri);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(provider.jwks_uri));
    keySets.set(provider.jwks_uri, keys);
  }
  return keys;
}

/** Clock skew tolerated on the IdP's `exp`/`iat`. */
const CLOCK_TOLERANCE_SECONDS = 60;

/**
 * Verifies the IdP's id_token (signature against the IdP's JWKS, `iss`, `aud`, `exp`, and the `nonce`
 * this sign-in sent) and returns who signed in. Any failed check throws, naming it. An e-mail address counts only
 * when the provider marks it verified (`email_verified: true`): another provider's user could claim any address,
 * and policy rules by address or domain, upstreams and the audit all read it.
 */
export async function verifyIdToken(
  config: EdgeConfig,
  keys: JWTVerifyGetKey,
  idToken: string,
  nonce: string,
): Promise<UserProps> {
  const { payload } = await jwtVerify(idToken, keys, {
    issuer: config.idp.issuer,
    audience: config.idp.clientId,
    requiredClaims: ["sub", "exp", "iat", "nonce"],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  });
  if (payload.nonce !== nonce) throw new Error("id_token nonce does not match this sign-in");
  // jose checks `iat` is a number but not that it is past: a token minted in the future is refused with the same skew as `exp`.
  if (typeof payload.iat !== "number" || payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS) {
    throw new Error('"iat" claim timestamp check failed (issued in the future)');
  }
  // OpenID Connect Core §2: at most 255 ASCII characters. Any characters are accepted (the grant is filed under its digest).
  if (typeof payload.sub !== "string" || payload.sub === "" || payload.sub.length > 255) {
    throw new Error("id_token sub must be 1 to 255 characters");
  }
  // OIDC Core §3.1.3.7: with several audiences, azp must name this client.
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== config.idp.clientId) {
    throw new Error("id_token has several audiences and azp is not this client");
  }
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  if (text(payload.email) && payload.email_verified !== true)
    console.warn(
      "sign-in: the identity provider sent an e-mail address not marked email_verified: true; it is ignored (docs/policy.md#who)",
    );
  return {
    sub: payload.sub as string,
    email: payload.email_verified === true ? text(payload.email) : undefined,
    name: text(payload.name),
    hostedDomain: text(payload.hd),
    groups: keptGroups(config, groupsFromClaim(payload, config.idp.groupsClaim)),
  };
}
