/**
 * The steps of a group look-up, in order: the AWS credentials are exchanged at Google's STS, the service account is
 * impersonated (IAM Credentials), domain-wide delegation makes a token that acts as the Workspace admin (signJwt, then
 * the JWT-bearer grant), and the Admin Directory lists the user's groups (and, with `google.checkAccounts`, reads their
 * account: that too is the `directory` step).
 */
export type GoogleStep = "aws-credentials" | "sts" | "impersonation" | "delegation" | "directory";

/** What to check when a step is refused (not merely unavailable): the usual misconfiguration of each. */
const FIX: Record<GoogleStep, string> = {
  "aws-credentials": "the origin has no AWS credentials: give the task a role, or set AWS_REGION and credentials locally",
  sts: "check google.audience and the pool provider's AWS account and attribute conditions",
  impersonation: "grant the pool's principal roles/iam.workloadIdentityUser on google.serviceAccount",
  delegation:
    "grant the service account roles/iam.serviceAccountTokenCreator on itself, and authorize its client id in the Workspace admin console (domain-wide delegation) for https://www.googleapis.com/auth/admin.directory.group.readonly, and with google.checkAccounts also https://www.googleapis.com/auth/admin.directory.user.readonly",
  directory: "give google.adminUser a Workspace role that may read groups (and users, with google.checkAccounts)",
};

/** A step of the look-up failed. `unavailable` when Google did not answer or answered 5xx/429: worth a retry. */
export class GoogleStepFailed extends Error {
  readonly step: GoogleStep;
  readonly unavailable: boolean;
  /** Google's HTTP status, when it answered. */
  readonly status: number | undefined;
  /** What Google said (or that it did not answer), without the fix: another use of the steps names its own fix. */
  readonly detail: string;
  constructor(step: GoogleStep, unavailable: boolean, detail: string, status?: number) {
    super(`Google group look-up failed at the ${step} step: ${detail}${unavailable ? "" : ` (${FIX[step]})`}`);
    this.name = "GoogleStepFailed";
    this.step = step;
    this.unavailable = unavailable;
    this.status = status;
    this.detail = detail;
  }
}

/** Whether an HTTP status (or its absence: no answer) means the service is unavailable rather than refusing. */
export const isUnavailableStatus = (status: number | undefined) => status === undefined || status === 429 || status >= 500;
