// What the edge tests' global setup (idp-setup.ts, on Node) hands to the tests running in workerd.
declare module "vitest" {
  export interface ProvidedContext {
    /** Issuer URL of the local OpenID provider started for the authorization tests. */
    idpIssuer: string;
    /** A server that accepts connections and never answers (a hung origin or identity provider). */
    silentUrl: string;
  }
}

export {};
