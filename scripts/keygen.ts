import { parseArgs } from "node:util";
import { base64url, exportJWK, generateKeyPair } from "jose";
import { EDGE_ASSERTION_ALG } from "../contract/edge-assertion.ts";
import { EDGE_ASSERTION_HMAC_ALG, MIN_SHARED_KEY_BYTES } from "../contract/edge-shared-key.ts";

const newKid = () => `edge-${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;

/** A new private key for signing edge assertions, as the JWK JSON that EDGE_SIGNING_KEY expects. */
export async function generateEdgeSigningKey(): Promise<string> {
  const { privateKey } = await generateKeyPair(EDGE_ASSERTION_ALG, { extractable: true });
  return JSON.stringify({ ...(await exportJWK(privateKey)), kid: newKid(), alg: EDGE_ASSERTION_ALG });
}

/** A new shared key (HS256, 256 random bits): the same JWK goes to the edge's EDGE_SIGNING_KEY and the origin's EDGE_ASSERTION_SHARED_KEYS. */
export function generateSharedEdgeKey(): string {
  const k = base64url.encode(crypto.getRandomValues(new Uint8Array(MIN_SHARED_KEY_BYTES)));
  return JSON.stringify({ kty: "oct", kid: newKid(), alg: EDGE_ASSERTION_HMAC_ALG, k });
}

const USAGE = `usage:
  npm run keygen --silent            print a new private EC P-256 JWK (ES256, a new kid): the edge's EDGE_SIGNING_KEY,
                                     or the origin's UPSTREAM_IDENTITY_SIGNING_KEY
  npm run keygen --silent -- --hmac  print a new shared key instead (HS256, 256 random bits, a new kid): the same JWK
                                     goes to the edge's EDGE_SIGNING_KEY and the origin's EDGE_ASSERTION_SHARED_KEYS,
                                     for an origin that cannot fetch the edge's public keys (docs/edge-assertion.md)
The key is one line of JSON on stdout, stored nowhere: pipe it into its secret.`;

/** `npm run keygen [-- --hmac]`: exit codes 0 printed (the key, or the usage for `--help`), 2 bad arguments. */
async function main(argv: string[]): Promise<number> {
  let values: { hmac?: boolean; help?: boolean };
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { hmac: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (error) {
    console.error(`keygen: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  console.log(values.hmac ? generateSharedEdgeKey() : await generateEdgeSigningKey());
  return 0;
}

// Only when run: the tests import the generators.
if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
