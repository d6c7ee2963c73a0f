import { AwsClient } from "google-auth-library";
import { describe, expect, it } from "vitest";
import { awsCredentialsSupplier } from "../../aws/origin/identity/google/aws-credentials.ts";
import { awsSubjectTokenProblem } from "../../local/fake-google/aws-signature.ts";
import { AUDIENCE, AWS_KEY, testAwsCredentials } from "./google-fake-setup.ts";

// The fake STS checks the signed GetCallerIdentity request as Google's STS would before calling AWS: a fake that
// accepted anything would let the origin's federation step pass untested.

/** The subject token google-auth-library makes for the AWS source: the URL-encoded JSON of a signed request. */
async function subjectToken(): Promise<string> {
  const client = new AwsClient({
    type: "external_account",
    audience: AUDIENCE,
    subject_token_type: "urn:ietf:params:aws:token-type:aws4_request",
    aws_security_credentials_supplier: awsCredentialsSupplier("eu-west-1", testAwsCredentials),
  });
  return client.retrieveSubjectToken();
}

type Signed = { url: string; method: string; headers: { key: string; value: string }[] };
const edited = (token: string, change: (request: Signed) => void) => {
  const request = JSON.parse(decodeURIComponent(token)) as Signed;
  change(request);
  return encodeURIComponent(JSON.stringify(request));
};
/** The fake's verdict on a token changed after signing. */
const problemAfter = (change: (request: Signed) => void) => (token: string) =>
  awsSubjectTokenProblem(edited(token, change), AUDIENCE, [AWS_KEY]);
const header = (request: Signed, key: string) => request.headers.find((entry) => entry.key === key) as { value: string };

describe("the fake STS's check of an AWS subject token", () => {
  it("accepts the request google-auth-library signs", async () => {
    expect(awsSubjectTokenProblem(await subjectToken(), AUDIENCE, [AWS_KEY])).toBeUndefined();
  });

  it.each([
    [
      "another audience",
      (token: string) => awsSubjectTokenProblem(token, `${AUDIENCE}-other`, [AWS_KEY]),
      /x-goog-cloud-target-resource/,
    ],
    ["an unknown access key", (token: string) => awsSubjectTokenProblem(token, AUDIENCE, []), /access key id is unknown/],
    [
      "another action",
      problemAfter((request) => {
        request.url = request.url.replace("GetCallerIdentity", "AssumeRole");
      }),
      /GetCallerIdentity/,
    ],
    [
      "a changed signed header",
      problemAfter((request) => {
        header(request, "host").value = "sts.us-east-1.amazonaws.com";
      }),
      /region|signature/,
    ],
    [
      "an old signature",
      problemAfter((request) => {
        header(request, "x-amz-date").value = "20200101T000000Z";
      }),
      /date|expired/,
    ],
    ["no serialized request", () => awsSubjectTokenProblem("not-json", AUDIENCE, [AWS_KEY]), /URL-encoded JSON/],
  ])("refuses %s", async (_case, check, problem) => {
    expect(check(await subjectToken())).toMatch(problem);
  });
});
