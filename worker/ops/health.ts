import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";

const ORIGIN_PROBE_TIMEOUT_MS = 3000;

/** /healthz: the Worker runs. */
export const healthz = (): Response => Response.json({ status: "ok" });

/** /readyz: the configuration is valid and the origin answers its own readiness probe. Names what is wrong, never a value. */
export async function readyz(env: EdgeEnv): Promise<Response> {
  let originUrl: string;
  try {
    originUrl = edgeConfig(env).originUrl;
  } catch {
    return Response.json({ status: "not ready", config: "invalid (see the Worker's logs)" }, { status: 503 });
  }
  try {
    const response = await fetch(`${originUrl}/readyz`, { signal: AbortSignal.timeout(ORIGIN_PROBE_TIMEOUT_MS) });
    if (!response.ok)
      return Response.json({ status: "not ready", config: "ok", origin: `answered ${response.status}` }, { status: 503 });
  } catch (error) {
    return Response.json(
      { status: "not ready", config: "ok", origin: `unreachable (${(error as Error).name})` },
      { status: 503 },
    );
  }
  return Response.json({ status: "ready", config: "ok", origin: "ok" });
}
