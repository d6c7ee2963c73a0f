import { createServer, type Socket } from "node:net";
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
  // A server that accepts connections and never answers: an origin or identity provider that hangs.
  const held: Socket[] = [];
  const silent = createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  project.provide("silentUrl", `http://127.0.0.1:${(silent.address() as { port: number }).port}`);
  return async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    await idp.close();
  };
}
