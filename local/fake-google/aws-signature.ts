import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** AWS credentials the fake STS knows, as AWS would: the access key id names the secret that signed. */
export interface AwsKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The request google-auth-library serializes as the subject token: a signed GetCallerIdentity call. */
interface SerializedRequest {
  url: string;
  method: string;
  headers: { key: string; value: string }[];
}

/** How far a signature's `x-amz-date` may be from now (AWS allows 15 minutes). */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/sts\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/**
 * Checks the subject token of an AWS token exchange the way Google's STS would before calling AWS: a POST of
 * GetCallerIdentity to the regional STS endpoint, SigV4-signed for that region's `sts` service by a key AWS knows,
 * recently, and naming the workload identity provider it is meant for. Returns what is wrong, or undefined.
 */
export function awsSubjectTokenProblem(subjectToken: string, audience: string, keys: readonly AwsKey[]): string | undefined {
  let request: SerializedRequest;
  try {
    request = JSON.parse(decodeURIComponent(subjectToken));
  } catch {
    return "subject_token is not a URL-encoded JSON serialization of a signed AWS request";
  }
  const headers = new Map((request.headers ?? []).map(({ key, value }) => [key.toLowerCase(), value]));
  const url = URL.canParse(request.url) ? new URL(request.url) : undefined;
  const region = /^sts\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url?.host ?? "")?.[1];
  if (request.method !== "POST" || !url || !region)
    return "the signed request must be a POST to https://sts.<region>.amazonaws.com";
  if (url.searchParams.get("Action") !== "GetCallerIdentity" || url.searchParams.get("Version") !== "2011-06-15")
    return "the signed request must call Action=GetCallerIdentity&Version=2011-06-15";
  if (headers.get("x-goog-cloud-target-resource") !== audience)
    return "the x-goog-cloud-target-resource header must equal the audience of the workload identity provider";
  const signed = AUTHORIZATION.exec(headers.get("authorization") ?? "");
  if (!signed) return "the signed request has no AWS SigV4 Authorization header for the sts service";
  const [, accessKeyId, dateStamp, scopeRegion, signedHeaderList = "", signature = ""] = signed;
  const amzDate = headers.get("x-amz-date") ?? "";
  if (scopeRegion !== region) return "the credential scope's region is not the endpoint's region";
  if (!amzDate.startsWith(dateStamp ?? "-")) return "x-amz-date does not match the credential scope's date";
  if (!(Math.abs(parseAmzDate(amzDate) - Date.now()) <= MAX_CLOCK_SKEW_MS)) return "the signature is expired or from the future";
  const key = keys.find((candidate) => candidate.accessKeyId === accessKeyId);
  if (!key) return "the AWS access key id is unknown";
  const expected = sigV4Signature({ request, url, headers, signedHeaderList, amzDate, region, secret: key.secretAccessKey });
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) return "the AWS signature does not match";
  return undefined;
}

function sigV4Signature(input: {
  request: SerializedRequest;
  url: URL;
  headers: Map<string, string>;
  signedHeaderList: string;
  amzDate: string;
  region: string;
  secret: string;
}): string {
  const { url, headers, signedHeaderList, amzDate, region } = input;
  const canonicalHeaders = signedHeaderList
    .split(";")
    .map((name) => `${name}:${headers.get(name) ?? ""}\n`)
    .join("");
  const canonicalRequest = [
    input.request.method,
    url.pathname,
    url.search.slice(1),
    canonicalHeaders,
    signedHeaderList,
    sha256Hex(""),
  ].join("\n");
  const scope = `${amzDate.slice(0, 8)}/${region}/sts/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const signingKey = [amzDate.slice(0, 8), region, "sts", "aws4_request"].reduce<Buffer | string>(
    (key, part) => hmac(key, part),
    `AWS4${input.secret}`,
  );
  return hmac(signingKey, stringToSign).toString("hex");
}

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");
const hmac = (key: Buffer | string, text: string) => createHmac("sha256", key).update(text).digest();

/** `20260101T120000Z` as epoch milliseconds (NaN if malformed). */
function parseAmzDate(value: string): number {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return match ? Date.parse(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`) : Number.NaN;
}
