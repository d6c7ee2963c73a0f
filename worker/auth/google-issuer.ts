/**
 * Google's issuer. Its accounts are the ones that carry the Workspace `hd` claim (domain-policy.ts), and its `sub` is
 * the Workspace user's unique id, by which the Directory reads an account too (groups/origin-groups.ts).
 */
export const GOOGLE_ISSUER = "https://accounts.google.com";
