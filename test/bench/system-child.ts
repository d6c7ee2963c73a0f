import { startTestSystem } from "../e2e/local-system.ts";

/**
 * The local system (edge, origin, IdP, database) in a process of its own, so that the bench's load generator does
 * not share an event loop with the origin. Prints one JSON line with the addresses once it is up; stops on SIGTERM.
 */
// LOCAL_EDGE_KEY=shared signs the edge's assertions with an HMAC key, as `npm start` does with it.
const system = await startTestSystem({ edgeKey: process.env.LOCAL_EDGE_KEY === "shared" ? "shared" : "ec" });
process.stdout.write(`${JSON.stringify({ edgeUrl: system.edgeUrl, originUrl: system.originUrl, dataDir: system.dataDir })}\n`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await system.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
