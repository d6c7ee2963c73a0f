// What the edge tests' global setup (idp-setup.ts, on Node) hands to the tests running in workerd.
declare module "vitest" {
  export interface ProvidedContext {
    /** Issuer URL of the local OpenID provider started for the authorization tests. */
    idpIssuer: string;
    /** A server that accepts connections and never answers (a hung origin or identity provider). */
    silentUrl: string;
    /** An origin whose streamed answer begins at once and ends 1.5 s later. */
    slowStreamUrl: string;
    /** An origin whose answers carry the session objects' "audited here" header. */
    auditClaimingUrl: string;
    /** An origin that never answers a POST; GET /closed says how many POSTs the caller gave up on. */
    holdingUrl: string;
    /** An origin that takes every audit ingest; GET /posts lists how many events each POST carried. */
    ingestUrl: string;
    /** Port of the loopback https host of Client ID Metadata Documents (cimd-setup.ts), as `https://localhost:<port>`. */
    cimdPort: number;
    /** The group tests' origin (groups-origin-setup.ts): each test takes its own first path segment. */
    groupsOriginUrl: string;
    /** The stand-in for Cloudflare's GraphQL Analytics API (queue-graphql-setup.ts): any path answers. */
    queueGraphqlUrl: string;
  }
}

export {};
