import { ConfigError } from "../../contract/config/load.ts";
import { loadOriginConfig } from "./config.ts";
import { ORIGIN_SHUTDOWN_GRACE_MS, startOrigin } from "./start-origin.ts";

/** `node aws/origin/main.ts`: the origin service as it runs on ECS (configuration from the environment and an optional file). */
async function main(): Promise<void> {
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  try {
    origin = await startOrigin(loadOriginConfig());
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : `origin failed to start: ${(error as Error).message}`);
    process.exit(1);
  }
  console.log(`origin listening on ${origin.url}`);
  const stop = async (signal: string) => {
    console.log(`${signal}: stopping the origin (requests in flight have ${ORIGIN_SHUTDOWN_GRACE_MS / 1000} s)`);
    await origin.close({ graceMs: ORIGIN_SHUTDOWN_GRACE_MS });
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

await main();
