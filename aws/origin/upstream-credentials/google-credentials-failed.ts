import { type GoogleStep, GoogleStepFailed } from "../identity/google/google-step.ts";

/** What to check when a step of making a user's Google token is refused (not merely unavailable). */
const FIX: Record<GoogleStep, (scopes: string) => string> = {
  "aws-credentials": () => "the origin has no AWS credentials: give the task a role, or set AWS_REGION and credentials locally",
  sts: () => "check google.audience and the pool provider's AWS account and attribute conditions",
  impersonation: () => "grant the pool's principal roles/iam.workloadIdentityUser on google.serviceAccount",
  delegation: (scopes) =>
    `authorize the service account's client id for exactly these scopes in the Workspace admin console (Security → API controls → Domain-wide delegation): ${scopes}; the user must be a user of the Workspace domain, and the service account needs roles/iam.serviceAccountTokenCreator on itself`,
  directory: () => "the Directory is not used for Google credentials",
};

/**
 * A server's Google credentials could not be made for the calling user: names the server, the step Google refused
 * (or did not answer) and what to fix. Never carries a token; names no user (it is logged).
 */
export class GoogleCredentialsFailed extends Error {
  /** Google did not answer or answered 5xx/429: worth a retry, nothing to fix. */
  readonly unavailable: boolean;
  constructor(server: string, scopes: readonly string[], cause: unknown) {
    const failure = cause instanceof GoogleStepFailed ? cause : undefined;
    const said = failure?.detail ?? (cause as Error)?.message ?? String(cause);
    const step = failure ? ` at the ${failure.step} step` : "";
    const unavailable = failure?.unavailable ?? false;
    const next = unavailable
      ? "; Google is unavailable, try again shortly"
      : failure
        ? ` (to fix: ${FIX[failure.step](scopes.join(","))})`
        : "";
    super(
      `server "${server}" needs a Google token for the calling user (googleCredentials), and it could not be made${step}: ${said}${next}`,
    );
    this.name = "GoogleCredentialsFailed";
    this.unavailable = unavailable;
  }
}
