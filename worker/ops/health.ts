import { importJWK } from "jose";
import { type EdgeConfig, hostlessAllowedOrigins, hostlessOriginsProblem } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_ALG } from "../../contract/edge-assertion.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { loadSigningKey, rotationPublicKey } from "../upstream/signing-key.ts";

const ORIGIN_PROBE_TIMEOUT_MS = 3000;

/** /healthz: the Worker runs. */
export const healthz = (): Response => Response.json({ status: "ok" });

/**
 * /readyz: the configuration is valid, its signing keys import, and the origin answers its own readiness probe.
 * Names what is wrong, never a value.
 */
export async function readyz(env: EdgeEnv): Promise<Response> {
  let config: EdgeConfig;
  try {
    config = edgeConfig(env);
  } catch (error) {
    // Said here too: right after a deploy the probes may be the only requests, and the logs are where it is read.
    console.error(`readyz: ${(error as Error).message}`);
    return Response.json({ status: "not ready", config: "invalid (see the Worker's logs)" }, { status: 503 });
  }
  const unusableKey = await unusableSigningKey(config);
  if (unusableKey)
    return Response.json({ status: "not ready", config: `${unusableKey} unusable (see the Worker's logs)` }, { status: 503 });
  const hostless = hostlessAllowedOrigins(config.mcpAllowedOrigins);
  if (hostless.length > 0) {
    console.error(`readyz: ${hostlessOriginsProblem(hostless)}`);
    return Response.json(
      { status: "not ready", config: "MCP_ALLOWED_ORIGINS names no host (see the Worker's logs)" },
      { status: 503 },
    );
  }
  try {
    const response = await fetch(`${config.originUrl}/readyz`, { signal: AbortSignal.timeout(ORIGIN_PROBE_TIMEOUT_MS) });
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

/**
 * The variable whose key cannot be used, if one: the schema takes any text, and a key that does not import would
 * otherwise show only as every MCP request (or the key set the origins fetch) failing with 500.
 */
async function unusableSigningKey(config: EdgeConfig): Promise<string | undefined> {
  const rotation = config.signingKeyRotation;
  let signingKid: string | undefined;
  const checks: (readonly [variable: string, load: () => Promise<unknown>])[] = [
    [
      "EDGE_SIGNING_KEY",
      async () => {
        signingKid = (await loadSigningKey(config.signingKey)).publicJwk?.kid;
      },
    ],
  ];
  if (rotation)
    checks.push(["EDGE_SIGNING_KEY_ROTATION", () => importJWK(rotationPublicKey(rotation, signingKid), EDGE_ASSERTION_ALG)]);
  for (const [variable, load] of checks) {
    try {
      await load();
    } catch (error) {
      console.error(`readyz: ${variable} cannot be used: ${(error as Error).message}`);
      return variable;
    }
  }
  return undefined;
}
