import type { TestProject } from "vitest/node";
import { startIdp } from "../../../local/idp/start-idp.ts";

/** The edge's authorization tests sign in against the real local OpenID provider, started once for them. */
export default async function setup(project: TestProject) {
  const idp = await startIdp({
    port: 0,
    clients: [
      { clientId: "edge-test-client", clientSecret: "test-secret-not-real", redirectUris: ["http://localhost:8787/callback"] },
    ],
  });
  project.provide("idpIssuer", idp.issuer);
  return () => idp.close();
}
