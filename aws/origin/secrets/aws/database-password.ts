import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createRotatingPassword, type ReadPasswordStage, type RotatingPassword } from "../../db/rotating-password.ts";
import { describeSecretsManagerError } from "./secrets-manager-provider.ts";

/**
 * The code of an error reading the database's password: the database counts as unavailable (a 503 to retry, as when it
 * refuses a password), not as a bug.
 */
export const PASSWORD_UNREADABLE = "DATABASE_PASSWORD_UNREADABLE";

/**
 * The database login's password, read from the secret `secretId` names as connections open (the origin's and its
 * commands' pools), and where it comes from, as a refused login's message names it.
 */
export function passwordFromSecret(secretId: string): { password: RotatingPassword; from: string } {
  return {
    password: createRotatingPassword(readDatabasePasswordStage(secretId)),
    from: `Secrets Manager's ${secretId} (DATABASE_PASSWORD_SECRET: its current, pending and previous versions were tried)`,
  };
}

/**
 * Reads the `password` field of a database secret's stages from Secrets Manager (an RDS secret's JSON: username,
 * password, host…). A stage the secret does not have now is undefined; that the secret itself is missing, unreadable
 * or not such a document is an error naming the secret and what fixes it, never a value.
 */
export function readDatabasePasswordStage(
  secretId: string,
  client: SecretsManagerClient = new SecretsManagerClient({}),
): ReadPasswordStage {
  return async (stage) => {
    let text: string | undefined;
    try {
      text = (await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }))).SecretString;
    } catch (error) {
      if (stage !== "AWSCURRENT" && (error as Error).name === "ResourceNotFoundException") return undefined;
      throw unreadable(`${stage} of ${secretId} could not be read: ${describeSecretsManagerError(error)}`, error);
    }
    const password = passwordField(text);
    if (password === undefined)
      throw unreadable(`${stage} of ${secretId} is not a JSON document with a "password" text field (an RDS secret is)`);
    return password;
  };
}

function passwordField(text: string | undefined): string | undefined {
  try {
    const password = (JSON.parse(text ?? "") as { password?: unknown } | null)?.password;
    return typeof password === "string" && password !== "" ? password : undefined;
  } catch {
    return undefined;
  }
}

function unreadable(what: string, cause?: unknown): Error {
  return Object.assign(new Error(`the database password (DATABASE_PASSWORD_SECRET): ${what}`, { cause }), {
    code: PASSWORD_UNREADABLE,
  });
}
