import type { OriginConfig } from "../../../contract/config/schema.ts";
import { createUpstreamIdentity } from "../identity/upstream-identity.ts";
import { secretsProviderFor } from "../secrets/select.ts";
import { createForwardStateCodec } from "./request-state.ts";
import type { HostOptions } from "./upstream-host.ts";

/** The relay settings every upstream host shares, from the origin's configuration. */
export async function relayOptions(config: OriginConfig, log: (line: string) => void): Promise<Omit<HostOptions, "log">> {
  let key = config.requestStateKey;
  if (!key) {
    key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    log(
      "REQUEST_STATE_KEY is not set: input-required retries are recognised only by this instance (set it on every instance when running several)",
    );
  }
  const identity = await createUpstreamIdentity({
    issuer: config.publicUrl,
    signingKey: config.upstreamIdentity.signingKey,
    ttlSeconds: config.upstreamIdentity.ttlSeconds,
    log,
  });
  return {
    identity,
    secrets: secretsProviderFor(process.env, log),
    stateCodec: createForwardStateCodec(key, config.relay.inputWaitSeconds),
    requestTimeoutMs: config.relay.requestTimeoutSeconds * 1000,
    connectTimeoutMs: config.relay.connectTimeoutSeconds * 1000,
    inputWaitMs: config.relay.inputWaitSeconds * 1000,
    keepAliveMs: config.relay.keepAliveSeconds * 1000,
    maxMessageBytes: config.relay.maxUpstreamMessageMiB * 1024 * 1024,
  };
}
