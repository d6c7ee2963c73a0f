import { createCipheriv, createDecipheriv, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KMSClient } from "@aws-sdk/client-kms";

/** One key the fake holds: its spec as KMS names it and, for ECC_NIST_P256, the real key pair that signs. */
export interface FakeKmsKey {
  arn: string;
  keySpec: "ECC_NIST_P256" | "RSA_2048";
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A symmetric key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT): the AES-256 key that wraps the data keys it generates. */
export interface FakeKmsSymmetricKey {
  arn: string;
  keySpec: "SYMMETRIC_DEFAULT";
  secret: Buffer;
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
  keys: Map<string, FakeKmsKey | FakeKmsSymmetricKey>;
  requests: FakeKmsRequest[];
  /** While true, every request fails with a 500 KMSInternalException. */
  failing: boolean;
  /** Adds a key under `id` (and its ARN) and returns it. */
  addKey(id: string, keySpec?: FakeKmsKey["keySpec"]): FakeKmsKey;
  /** Adds a symmetric key under `id` (and its ARN), for GenerateDataKey and Decrypt. */
  addSymmetricKey(id: string): FakeKmsSymmetricKey;
  close(): Promise<void>;
}

// AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/kms/aws4_request, SignedHeaders=<…>, Signature=<64 hex>
const SIGV4 =
  /^AWS4-HMAC-SHA256 Credential=[A-Z0-9]{16,128}\/\d{8}\/([a-z0-9-]+)\/kms\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/;

/**
 * A small stand-in for AWS KMS speaking its wire protocol (AWS JSON 1.1: POST /, `x-amz-target: TrentService.<Op>`,
 * binary fields in base64, errors as `{"__type": …, "message": …}`), because AWS cannot be reached from the tests.
 * It implements GetPublicKey and Sign (ECDSA_SHA_256 over a RAW message, DER signature), GenerateDataKey and Decrypt
 * (envelope encryption: the data key wrapped under a symmetric key, the encryption context bound as associated data,
 * so Decrypt with another context fails with InvalidCiphertextException as KMS does), and refuses a request whose
 * SigV4 signature is missing or malformed, or that does not sign host, x-amz-date and x-amz-target.
 */
export async function startFakeKms(): Promise<FakeKms> {
  const keys = new Map<string, FakeKmsKey | FakeKmsSymmetricKey>();
  const fake = { keys, requests: [] as FakeKmsRequest[], failing: false };
  const server: Server = createServer(async (request, response) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
      response.end(JSON.stringify(body));
    };
    const target = String(request.headers["x-amz-target"] ?? "");
    const input = JSON.parse((await readBody(request)) || "{}") as KmsInput;
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
    const operation = OPERATIONS[target];
    if (!operation) return reply(400, { __type: "UnknownOperationException", message: `unsupported target ${target}` });
    // Decrypt may leave KeyId out: the ciphertext blob names its key, as KMS's does.
    const keyId = input.KeyId ?? (target === "TrentService.Decrypt" ? blobKeyId(input.CiphertextBlob) : undefined);
    const key = keys.get(keyId ?? "");
    if (!key) return reply(400, { __type: "NotFoundException", message: `Key '${keyId}' does not exist` });
    return reply(...operation(key, input, keys));
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
    addSymmetricKey(id: string) {
      const key = {
        arn: `arn:aws:kms:eu-west-1:111111111111:key/${id}`,
        keySpec: "SYMMETRIC_DEFAULT" as const,
        secret: randomBytes(32),
      };
      keys.set(id, key);
      keys.set(key.arn, key);
      return key;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/**
 * The AWS SDK's KMS client pointed at a fake, as the origin builds its own: a region, placeholder credentials (the
 * fake checks the SigV4 shape only), and one attempt, so a refusal or an outage is seen at once, not after back-off.
 */
export const fakeKmsClient = (fake: Pick<FakeKms, "endpoint">): KMSClient =>
  new KMSClient({
    endpoint: fake.endpoint,
    region: "eu-west-1",
    credentials: FAKE_KMS_CREDENTIALS,
    maxAttempts: 1,
  });

/** Credentials of the right shape for the fake; no secret. */
export const FAKE_KMS_CREDENTIALS = { accessKeyId: "AKIDEXAMPLE00000", secretAccessKey: "placeholder-not-a-secret" };

/** A request body: strings, except the encryption context (a map) and NumberOfBytes. */
type KmsInput = Record<string, string | undefined> & { EncryptionContext?: Record<string, string>; NumberOfBytes?: number };
type Answer = [number, unknown];
type AnyKey = FakeKmsKey | FakeKmsSymmetricKey;

const OPERATIONS: Record<string, (key: AnyKey, input: KmsInput, keys: Map<string, AnyKey>) => Answer> = {
  "TrentService.GetPublicKey": (key) => (asymmetric(key) ? [200, publicKeyAnswer(key)] : wrongUsage(key, "GetPublicKey")),
  "TrentService.Sign": (key, input) => (asymmetric(key) ? signAnswer(key, input) : wrongUsage(key, "Sign")),
  "TrentService.GenerateDataKey": (key, input) =>
    asymmetric(key) ? wrongUsage(key, "GenerateDataKey") : dataKeyAnswer(key, input),
  "TrentService.Decrypt": (key, input, keys) => (asymmetric(key) ? wrongUsage(key, "Decrypt") : decryptAnswer(key, input, keys)),
};

const asymmetric = (key: AnyKey): key is FakeKmsKey => key.keySpec !== "SYMMETRIC_DEFAULT";
const wrongUsage = (key: AnyKey, operation: string): Answer => [
  400,
  { __type: "InvalidKeyUsageException", message: `${operation} is not valid for ${key.arn} (${key.keySpec})` },
];

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

function signAnswer(key: FakeKmsKey, input: KmsInput): Answer {
  if (input.SigningAlgorithm !== "ECDSA_SHA_256" || key.keySpec !== "ECC_NIST_P256") {
    return [400, { __type: "InvalidKeyUsageException", message: `${input.SigningAlgorithm} is not valid for this key` }];
  }
  if (input.MessageType !== "RAW" || !input.Message) {
    return [400, { __type: "ValidationException", message: "expected a RAW message" }];
  }
  const signature = sign("sha256", Buffer.from(input.Message, "base64"), { key: key.privateKey, dsaEncoding: "der" });
  return [200, { KeyId: key.arn, Signature: signature.toString("base64"), SigningAlgorithm: "ECDSA_SHA_256" }];
}

// The fake's ciphertext blob: the key's ARN (length-prefixed) ‖ iv ‖ wrapped data key ‖ GCM tag. The encryption
// context is the associated data, so only the same context opens it. (KMS's real blob is opaque; this one need not match.)
const IV_BYTES = 12;
const TAG_BYTES = 16;

function dataKeyAnswer(key: FakeKmsSymmetricKey, input: KmsInput): Answer {
  const bytes = input.KeySpec === "AES_256" ? 32 : input.KeySpec === "AES_128" ? 16 : input.NumberOfBytes;
  if (!bytes || bytes < 1 || bytes > 1024) {
    return [400, { __type: "ValidationException", message: "KeySpec (AES_256 or AES_128) or NumberOfBytes is required" }];
  }
  const plaintext = randomBytes(bytes);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key.secret, iv).setAAD(contextBytes(input.EncryptionContext));
  const wrapped = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const arn = Buffer.from(key.arn);
  const blob = Buffer.concat([Buffer.from([arn.length]), arn, iv, wrapped, cipher.getAuthTag()]);
  return [200, { KeyId: key.arn, Plaintext: plaintext.toString("base64"), CiphertextBlob: blob.toString("base64") }];
}

function decryptAnswer(key: FakeKmsSymmetricKey, input: KmsInput, keys: Map<string, AnyKey>): Answer {
  const blob = Buffer.from(input.CiphertextBlob ?? "", "base64");
  const named = keys.get(blobKeyId(input.CiphertextBlob) ?? "");
  if (named && named !== key) {
    return [
      400,
      {
        __type: "IncorrectKeyException",
        message: "The key ID in the request does not identify the key that encrypted the ciphertext",
      },
    ];
  }
  const body = blob.subarray(1 + (blob[0] ?? 0));
  try {
    if (!named || body.length < IV_BYTES + TAG_BYTES) throw new Error("not a ciphertext of this key");
    const decipher = createDecipheriv("aes-256-gcm", key.secret, body.subarray(0, IV_BYTES));
    decipher.setAAD(contextBytes(input.EncryptionContext)).setAuthTag(body.subarray(body.length - TAG_BYTES));
    const plaintext = Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]);
    return [200, { KeyId: key.arn, Plaintext: plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" }];
  } catch {
    // KMS says no more than this, whether the blob or the encryption context was wrong.
    return [400, { __type: "InvalidCiphertextException", message: null }];
  }
}

/** The key a blob of this fake names, if it is one. */
function blobKeyId(base64: string | undefined): string | undefined {
  const blob = Buffer.from(base64 ?? "", "base64");
  const length = blob[0];
  return length && blob.length > length ? blob.subarray(1, 1 + length).toString() : undefined;
}

/** The encryption context in one canonical form (sorted keys): KMS binds the pairs, not their order. */
const contextBytes = (context: Record<string, string> = {}) =>
  Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
