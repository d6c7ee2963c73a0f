/**
 * What each scope this edge grants lets an app do, in words for the consent page. Every scope in
 * `GRANTABLE_SCOPES` needs a sentence here (test/edge/consent-page.test.ts holds them to it).
 */
export const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  mcp: "Use the servers above as you: see their tools, prompts and resources, and call their tools, within what your company allows you.",
  offline_access:
    "Stay connected without asking you again, until you disconnect it in the app or your access is revoked (at most 30 days).",
  "mcp:admin": "Use this proxy's administrator features, if you are one of its administrators.",
};

/** The sentence for a scope; a scope without one is named as it is, so nothing granted goes unmentioned. */
export const describeScope = (scope: string): string => SCOPE_DESCRIPTIONS[scope] ?? `Access named "${scope}".`;
