import { base64url } from "jose";

/**
 * The id a grant is filed under for a user: the SHA-256 of the identity provider's `sub`. The library builds
 * tokens as `userId:grantId:secret` and refuses a userId containing `:`, which an IdP's `sub` may contain;
 * a digest is always safe, has a fixed length within KV's key limit whatever the `sub`, and keeps the
 * user's identifier out of the tokens clients hold. The `sub` itself travels in the grant's encrypted props.
 */
export async function grantOwnerId(sub: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(sub));
  return base64url.encode(new Uint8Array(digest));
}
