import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One key the fake holds: its spec as KMS names it and, for ECC_NIST_P256, the real key pair that signs. */
export interface FakeKmsKey {
  arn: string;
  keySpec: "ECC_NIST_P256" | "RSA_2048";
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface FakeKmsRequest {
  target: string;
  keyId: string;
  /** The Authorization header had SigV4's shape, with this credential scope region and service. */
  signed: boolean;
  region?: string;
}

export interface FakeKms {
  endpoint: string;
  /** Keys by id and by ARN; alias names are not modelled. */
  keys: Map<string, FakeKmsKey>;
  requests: FakeKmsRequest[];
  /** While true, every request fails with a 500 KMSInternalException. */
  failing: boolean;
  /** Adds a key under `id` (and its ARN) and returns it. */
  addKey(id: string, keySpec?: FakeKmsKey["keySpec"]): FakeKmsKey;
  close(): Promise<void>;
}

// AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/kms/aws4_request, SignedHeaders=<…>, Signature=<64 hex>
const SIGV4 =
  /^AWS4-HMAC-SHA256 Credential=[A-Z0-9]{16,128}\/\d{8}\/([a-z0-9-]+)\/kms\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/;

/**
 * A small stand-in for AWS KMS speaking its wire protocol (AWS JSON 1.1: POST /, `x-amz-target: TrentService.<Op>`,
 * binary fields in base64, errors as `{"__type": …, "message": …}`), because AWS cannot be reached from the tests.
 * It implements GetPublicKey and Sign (ECDSA_SHA_256 over a RAW message, DER signature) and refuses a request whose
 * SigV4 signature is missing or malformed, or that does not sign host, x-amz-date and x-amz-target.
 */
export async function startFakeKms(): Promise<FakeKms> {
  const keys = new Map<string, FakeKmsKey>();
  const fake = { keys, requests: [] as FakeKmsRequest[], failing: false };
  const server: Server = createServer(async (request, response) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
      response.end(JSON.stringify(body));
    };
    const target = String(request.headers["x-amz-target"] ?? "");
    const input = JSON.parse((await readBody(request)) || "{}") as Record<string, string | undefined>;
    const signature = SIGV4.exec(request.headers.authorization ?? "");
    const signedHeaders = signature?.[2]?.split(";") ?? [];
    const signed =
      signature !== null &&
      /^\d{8}T\d{6}Z$/.test(String(request.headers["x-amz-date"])) &&
      ["host", "x-amz-date", "x-amz-target"].every((header) => signedHeaders.includes(header));
    fake.requests.push({ target, keyId: input.KeyId ?? "", signed, region: signature?.[1] });
    if (!signed) return reply(400, { __type: "IncompleteSignatureException", message: "a SigV4-signed request is required" });
    if (request.headers["content-type"] !== "application/x-amz-json-1.1") {
      return reply(400, { __type: "SerializationException", message: "expected application/x-amz-json-1.1" });
    }
    if (fake.failing) return reply(500, { __type: "KMSInternalException", message: "simulated outage" });
    const key = keys.get(input.KeyId ?? "");
    if (!key) return reply(400, { __type: "NotFoundException", message: `Key '${input.KeyId}' does not exist` });
    if (target === "TrentService.GetPublicKey") return reply(200, publicKeyAnswer(key));
    if (target === "TrentService.Sign") return reply(...signAnswer(key, input));
    return reply(400, { __type: "UnknownOperationException", message: `unsupported target ${target}` });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    endpoint: `http://127.0.0.1:${port}`,
    addKey(id: string, keySpec: FakeKmsKey["keySpec"] = "ECC_NIST_P256") {
      const pair =
        keySpec === "RSA_2048"
          ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ec", { namedCurve: "P-256" });
      const key = { arn: `arn:aws:kms:eu-west-1:111111111111:key/${id}`, keySpec, ...pair };
      keys.set(id, key);
      keys.set(key.arn, key);
      return key;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

function publicKeyAnswer(key: FakeKmsKey): unknown {
  const ecc = key.keySpec === "ECC_NIST_P256";
  return {
    KeyId: key.arn,
    PublicKey: key.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
    KeySpec: key.keySpec,
    CustomerMasterKeySpec: key.keySpec,
    KeyUsage: "SIGN_VERIFY",
    SigningAlgorithms: ecc ? ["ECDSA_SHA_256"] : ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"],
  };
}

function signAnswer(key: FakeKmsKey, input: Record<string, string | undefined>): [number, unknown] {
  if (input.SigningAlgorithm !== "ECDSA_SHA_256" || key.keySpec !== "ECC_NIST_P256") {
    return [400, { __type: "InvalidKeyUsageException", message: `${input.SigningAlgorithm} is not valid for this key` }];
  }
  if (input.MessageType !== "RAW" || !input.Message) {
    return [400, { __type: "ValidationException", message: "expected a RAW message" }];
  }
  const signature = sign("sha256", Buffer.from(input.Message, "base64"), { key: key.privateKey, dsaEncoding: "der" });
  return [200, { KeyId: key.arn, Signature: signature.toString("base64"), SigningAlgorithm: "ECDSA_SHA_256" }];
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
