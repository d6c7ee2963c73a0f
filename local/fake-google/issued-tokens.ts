import { randomBytes } from "node:crypto";

/** What one access token the fake issued stands for: who holds it and which scopes it carries. */
export interface IssuedToken {
  /** `sts` (a federated token), `service-account` (impersonation), or `delegated` (domain-wide delegation). */
  kind: "sts" | "service-account" | "delegated";
  /** The service account (impersonation) or the impersonated Workspace user (delegation); none for an STS token. */
  principal?: string;
  scopes: string[];
  expiresAt: number;
}

/** The fake's access tokens: opaque random strings, like Google's, each remembered with what it stands for. */
export function issuedTokens() {
  const tokens = new Map<string, IssuedToken>();
  return {
    issue(token: Omit<IssuedToken, "expiresAt">, lifetimeSeconds: number): string {
      const value = `ya29.fake-${token.kind}-${randomBytes(24).toString("base64url")}`;
      tokens.set(value, { ...token, expiresAt: Date.now() + lifetimeSeconds * 1000 });
      return value;
    },
    /** The token a request's `Authorization: Bearer` names, if the fake issued it and it has not expired. */
    fromRequest(authorization: string | undefined): IssuedToken | undefined {
      const value = /^Bearer (\S+)$/i.exec(authorization ?? "")?.[1];
      const token = value === undefined ? undefined : tokens.get(value);
      return token && token.expiresAt > Date.now() ? token : undefined;
    },
    /** What a token the fake issued stands for (expired or not), so tests can see whom and which scopes it was for. */
    lookUp: (value: string): IssuedToken | undefined => tokens.get(value),
  };
}
export type IssuedTokens = ReturnType<typeof issuedTokens>;
