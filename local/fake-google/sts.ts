import type { IncomingMessage, ServerResponse } from "node:http";
import { type AwsKey, awsSubjectTokenProblem } from "./aws-signature.ts";
import { oauthError, sendJson } from "./google-error.ts";
import type { IssuedTokens } from "./issued-tokens.ts";
import { readBody } from "./read-body.ts";

export const STS_PATH = "/v1/token";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const AWS_SUBJECT = "urn:ietf:params:aws:token-type:aws4_request";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
const STS_TOKEN_SECONDS = 3600;

export interface StsOptions {
  /** The workload identity pool provider, `//iam.googleapis.com/projects/.../providers/...`. */
  audience: string;
  awsKeys: readonly AwsKey[];
  tokens: IssuedTokens;
}

/** `POST /v1/token` of Google's Security Token Service: a signed AWS request for a federated access token (RFC 8693). */
export async function serveSts(request: IncomingMessage, response: ServerResponse, options: StsOptions): Promise<void> {
  const form = new URLSearchParams(await readBody(request));
  if (form.get("grant_type") !== TOKEN_EXCHANGE)
    return oauthError(response, 400, "unsupported_grant_type", `grant_type must be ${TOKEN_EXCHANGE}`);
  if (form.get("subject_token_type") !== AWS_SUBJECT)
    return oauthError(response, 400, "invalid_request", `subject_token_type must be ${AWS_SUBJECT}`);
  if (form.get("requested_token_type") !== ACCESS_TOKEN_TYPE)
    return oauthError(response, 400, "invalid_request", `requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  if (form.get("audience") !== options.audience)
    return oauthError(response, 400, "invalid_target", 'The target service indicated by the "audience" parameters is invalid.');
  const problem = awsSubjectTokenProblem(form.get("subject_token") ?? "", options.audience, options.awsKeys);
  if (problem) return oauthError(response, 400, "invalid_grant", `The subject token is invalid: ${problem}.`);
  const scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
  sendJson(response, 200, {
    access_token: options.tokens.issue({ kind: "sts", scopes }, STS_TOKEN_SECONDS),
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: "Bearer",
    expires_in: STS_TOKEN_SECONDS,
  });
}
