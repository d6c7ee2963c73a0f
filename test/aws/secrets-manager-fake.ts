import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One stored secret: its current text value and version id, and the values its other stages label, if any. */
export interface FakeSecret {
  value: string;
  versionId: string;
  stages?: Partial<Record<"AWSPENDING" | "AWSPREVIOUS", string>>;
}

export interface FakeSecretsManager {
  endpoint: string;
  /** Secrets by id; change an entry to simulate a rotation. */
  secrets: Map<string, FakeSecret>;
  /** Every GetSecretValue request received: the SecretId, the VersionStage asked, and whether it carried a SigV4 signature. */
  requests: { secretId: string; stage?: string; signed: boolean }[];
  /** While true, every request fails with a 500 InternalServiceError. */
  failing: boolean;
  close(): Promise<void>;
}

/**
 * A small stand-in for AWS Secrets Manager that speaks its JSON wire protocol (AWS JSON 1.1: POST /,
 * `x-amz-target: secretsmanager.GetSecretValue`, errors as `{"__type": …, "message": …}`), because AWS cannot
 * be reached from the tests. Only GetSecretValue is implemented; anything else is refused as the service would.
 */
export async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const fake: Omit<FakeSecretsManager, "endpoint" | "close"> = { secrets: new Map(), requests: [], failing: false };
  const server: Server = createServer(async (request, response) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
      response.end(JSON.stringify(body));
    };
    const target = request.headers["x-amz-target"];
    const input = JSON.parse((await readBody(request)) || "{}") as { SecretId?: string; VersionStage?: string };
    if (target !== "secretsmanager.GetSecretValue") {
      return reply(400, { __type: "UnknownOperationException", message: `unsupported target ${String(target)}` });
    }
    const secretId = input.SecretId ?? "";
    const stage = input.VersionStage;
    fake.requests.push({
      secretId,
      ...(stage && { stage }),
      signed: /^AWS4-HMAC-SHA256 /.test(request.headers.authorization ?? ""),
    });
    if (fake.failing) return reply(500, { __type: "InternalServiceError", message: "simulated outage" });
    const secret = fake.secrets.get(secretId);
    const value = !stage || stage === "AWSCURRENT" ? secret?.value : secret?.stages?.[stage as "AWSPENDING" | "AWSPREVIOUS"];
    if (value === undefined) {
      const what = secret ? `secret value for staging label: ${stage}` : "secret";
      return reply(400, { __type: "ResourceNotFoundException", message: `Secrets Manager can't find the specified ${what}.` });
    }
    reply(200, {
      ARN: `arn:aws:secretsmanager:eu-west-1:111111111111:secret:${secretId}-AbCdEf`,
      Name: secretId,
      SecretString: value,
      VersionId: `${secret?.versionId}${stage && stage !== "AWSCURRENT" ? `-${stage}` : ""}`,
      VersionStages: [stage ?? "AWSCURRENT"],
      CreatedDate: Date.now() / 1000,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
