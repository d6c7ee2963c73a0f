import { generateEdgeSigningKey } from "../../../scripts/keygen.ts";

/** Test values for the edge's variables and secrets (a fresh signing key each run; nothing real). */
export async function edgeTestBindings(): Promise<Record<string, string>> {
  return {
    PUBLIC_URL: "http://localhost:8787",
    ORIGIN_URL: "http://127.0.0.1:9",
    IDP_ISSUER: "http://127.0.0.1:9",
    IDP_CLIENT_ID: "edge-test-client",
    IDP_CLIENT_SECRET: "test-secret-not-real",
    SERVER_NAMES: "everything,filesystem",
    EDGE_SIGNING_KEY: await generateEdgeSigningKey(),
    // Each test waits for the audit it causes: a short batch window keeps that wait short.
    AUDIT_BATCH_MILLISECONDS: "5",
  };
}
