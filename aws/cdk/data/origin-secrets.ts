import { RemovalPolicy, Validations } from "aws-cdk-lib";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";

/**
 * The origin's own secrets and the upstream credentials it injects, created empty-of-meaning (a random
 * placeholder where Secrets Manager cannot make the real value) and filled in by the operator; docs/deploy.md
 * has the command for each. Values never pass through CloudFormation.
 * Each is retained when the stack is deleted, under its fixed name (the name is what operators and the docs use), so a
 * new stack of the same name cannot create it again: docs/deploy.md, "Deploying again after deleting the data stack".
 */
export class OriginSecrets extends Construct {
  /** HMAC key shared by all origin tasks for input-required request state (REQUEST_STATE_KEY). */
  readonly requestStateKey: secretsmanager.Secret;
  /** Private EC P-256 JWK the origin signs upstream identity tokens with (UPSTREAM_IDENTITY_SIGNING_KEY). */
  readonly upstreamIdentitySigningKey: secretsmanager.Secret;
  /** The HMAC key the edge signs assertions with, when `edgeKey` is `shared` (EDGE_ASSERTION_SHARED_KEYS). */
  readonly edgeSharedKey?: secretsmanager.Secret;
  /** Upstream credentials by name, read at run time by the origin's Secrets Manager provider. */
  readonly upstream: Map<string, secretsmanager.Secret>;
  /** Prefix of the upstream credentials' names: the provider's `secretIdPrefix`. */
  readonly upstreamPrefix: string;

  constructor(scope: Construct, id: string, props: { name: string; upstreamSecrets: string[]; edgeKey: "ec" | "shared" }) {
    super(scope, id);
    this.requestStateKey = new secretsmanager.Secret(this, "RequestStateKey", {
      secretName: `${props.name}/origin/request-state-key`,
      description: "REQUEST_STATE_KEY of the MCP origin: random, base64url alphabet (64 characters, over 256 bits).",
      // Letters and digits only: every character is in the base64url alphabet, and 64 of them decode to 48 bytes.
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false, requireEachIncludedType: false },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.requestStateKey).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "Rotated by hand (docs/deploy.md: put-secret-value, then a redeploy so every task holds the same key). It protects only minutes-long request state, and a scheduled rotation would need a function that redeploys the service in step.",
    });
    this.upstreamIdentitySigningKey = new secretsmanager.Secret(this, "UpstreamIdentitySigningKey", {
      secretName: `${props.name}/origin/upstream-identity-signing-key`,
      description:
        "UPSTREAM_IDENTITY_SIGNING_KEY of the MCP origin: a private EC P-256 JWK with kid. Replace the placeholder: npm run keygen --silent | aws secretsmanager put-secret-value --secret-id <this> --secret-string file:///dev/stdin",
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.upstreamIdentitySigningKey).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "An EC key pair whose public half upstreams trust by kid: rotating it is a coordinated procedure (docs/deploy.md), not something a scheduled function can do blindly.",
    });
    if (props.edgeKey === "shared") this.edgeSharedKey = this.sharedEdgeKey(props.name);
    this.upstreamPrefix = `${props.name}/upstream/`;
    this.upstream = new Map(
      props.upstreamSecrets.map((name) => {
        const secret = new secretsmanager.Secret(this, `Upstream-${name}`, {
          secretName: `${this.upstreamPrefix}${name}`,
          description: `Upstream credential "${name}" for the MCP origin. Set it with aws secretsmanager put-secret-value.`,
          removalPolicy: RemovalPolicy.RETAIN,
        });
        Validations.of(secret).acknowledge({
          id: "AwsSolutions-SMG4",
          reason:
            "Issued by a third party (an API token of the upstream's service) that Secrets Manager cannot mint; its owner rotates it with put-secret-value and the origin's provider picks up the new version within minutes, without a restart.",
        });
        return [name, secret] as const;
      }),
    );
  }

  /**
   * A shared key as the edge and the origin read it: a JWK whose `k` Secrets Manager generates (64 letters and digits,
   * all in the base64url alphabet: 48 bytes, about 381 bits of entropy), so the key never passes through CloudFormation
   * or a workstation.
   */
  private sharedEdgeKey(name: string): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, "EdgeSharedKey", {
      secretName: `${name}/origin/edge-shared-key`,
      description:
        "EDGE_ASSERTION_SHARED_KEYS of the MCP origin and EDGE_SIGNING_KEY of the edge: an HMAC JWK. Copy it to the edge: aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text | npx wrangler secret put EDGE_SIGNING_KEY --env production. During a rotation it holds a set of two keys: give the edge the new key alone (docs/edge-assertion.md).",
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ kty: "oct", kid: `${name}-edge-shared`, alg: "HS256" }),
        generateStringKey: "k",
        passwordLength: 64,
        excludePunctuation: true,
        includeSpace: false,
        requireEachIncludedType: false,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "Held by the edge too (a Worker secret): rotating it is the coordinated procedure of docs/edge-assertion.md (both keys at the origin, then the edge, then the new key alone), which a scheduled function cannot do.",
    });
    return secret;
  }
}
