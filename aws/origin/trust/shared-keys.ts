import { errors } from "jose";
import { EDGE_ASSERTION_HMAC_ALG, HMAC_SHA256, parseSharedKeySet } from "../../../contract/edge-shared-key.ts";
import type { EdgeKeys } from "./jwks.ts";

/**
 * The edge's shared HMAC keys (`edgeSharedKeys`), held by the origin itself: no key set is fetched from the edge,
 * and a check costs microseconds instead of an EC signature's fraction of a millisecond. A `kid` outside the set is
 * refused as a bad signature, like an unknown EC key. A malformed set throws here, at start.
 */
export function sharedEdgeKeys(json: string): EdgeKeys {
  const byKid = new Map(
    parseSharedKeySet(json, "EDGE_ASSERTION_SHARED_KEYS").map(({ kid, secret }) => [
      kid,
      crypto.subtle.importKey("raw", secret, HMAC_SHA256, false, ["verify"]),
    ]),
  );
  return {
    algorithm: EDGE_ASSERTION_HMAC_ALG,
    getKey: (header) => {
      const key = header.kid === undefined ? undefined : byKid.get(header.kid);
      // The kid is the caller's text: quoted and cut, so that it cannot forge a line of the origin's log.
      if (!key)
        throw new errors.JWKSNoMatchingKey(`no shared edge key has the kid ${JSON.stringify(String(header.kid)).slice(0, 80)}`);
      return key;
    },
  };
}
