import { z } from "zod";
import { parseJsonPath } from "../audit-redaction.ts";
import { parseSharedKeySet } from "../edge-shared-key.ts";
import { isLoopbackHost } from "../loopback-host.ts";
import { Policy } from "./policy.ts";

/** The longest `relay.inputWaitSeconds`: no input-required state lives longer, so what remembers used ones need not either. */
export const MAX_INPUT_WAIT_SECONDS = 3600;

/**
 * The configuration model both tiers share. Each key documents itself here; `env-names.ts` lists the
 * environment variable that overrides it, and `load.ts` applies the precedence defaults < file < environment.
 */

const isJsonPath = (path: string) => succeeds(() => parseJsonPath(path));
const isRegExp = (pattern: string) => succeeds(() => new RegExp(pattern, "g"));
const succeeds = (attempt: () => unknown) => {
  try {
    attempt();
    return true;
  } catch {
    return false;
  }
};

/** An absolute URL without trailing slash: https anywhere, http only on a loopback host (local development). */
export const ServiceUrl = z
  .url({ message: "expected an absolute URL such as https://mcp.example.com" })
  .refine((value) => {
    const url = new URL(value);
    return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
  }, "expected https (plain http is accepted only on a loopback host: localhost, 127.x.x.x or [::1])")
  .refine((value) => !value.endsWith("/"), "expected no trailing slash")
  .refine((value) => !/[?#]/.test(value), "expected no query or fragment");

/** The host a browser's `Origin` names for an entry written as a host or as a URL (lowercase, no port), if any. */
function originHostOf(entry: string): string | undefined {
  try {
    const host = new URL(entry.includes("://") ? entry : `https://${entry}`).hostname;
    return host && !host.includes("*") ? host : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `<scheme>://*` for a scheme other than http(s), such as `moz-extension://*`: the SDK's form for every origin of that
 * scheme (Firefox's extension ids differ on every install), compared as written (lowercase).
 */
const SCHEME_WILDCARD = /^(?!https?:)[a-z][a-z0-9+.-]*:\/\/\*$/i;

/**
 * An allowed origin as the edge compares it with a browser's `Origin`: a host (lowercase, without scheme, port or path;
 * an entry written as a URL or with a port is taken as its host, which is what is compared), or a `<scheme>://*`.
 * An entry that names neither (`*.example.com`, a space) is kept as written but never compared, and named by /readyz
 * and `npm start` (`hostlessAllowedOrigins`): such entries were accepted and matched nothing before this release, and
 * refusing them made an upgraded edge answer 500 to every request (s29 skew hunt F1).
 */
const OriginHost = z
  .string()
  .trim()
  .transform((entry) => (SCHEME_WILDCARD.test(entry) ? entry.toLowerCase() : (originHostOf(entry) ?? entry)));

/** The entries of `mcpAllowedOrigins` that name no host (a wildcard such as `*.example.com`): they allow no page. */
export const hostlessAllowedOrigins = (entries: readonly string[]): string[] =>
  entries.filter((entry) => !SCHEME_WILDCARD.test(entry) && originHostOf(entry) === undefined);

/** What is wrong with allowed origins that name no host, as /readyz logs it and `npm start` says it. */
export const hostlessOriginsProblem = (entries: readonly string[]): string =>
  `MCP_ALLOWED_ORIGINS: ${entries.map((entry) => JSON.stringify(entry)).join(", ")} name no host, so they allow no page (list each host, such as app.example.com: no wildcards)`;

/** An AWS region name, such as eu-west-1. */
const AwsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "expected an AWS region such as eu-west-1");

/**
 * A server name appears in URLs (`/mcp/<name>`) and in the aggregated endpoint's `<server>__<name>` tool and prompt
 * names (64 characters at most, a longer one cut and hashed): keep it short and plain.
 */
export const ServerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, "expected 1-31 lowercase letters, digits or dashes, starting with a letter or digit");

/**
 * `per-user` (the default, also when absent): one upstream connection (for stdio, one child process) per user, so
 * credentials and state never mix between users. `shared`: one connection for every user, for a server that is
 * stateless and holds no user's credential; its log messages and mid-call questions to the client are then not
 * relayed (they cannot be told apart by user), and an HTTP server must take `identity: "none"`.
 */
/** `relay.listensPerUser` unless set: above the edge's default `sessionsPerUser` (100), with room beside them. */
export const DEFAULT_LISTENS_PER_USER = 128;

/**
 * Listens one upstream connection holds (the SDK's `maxSubscriptions`): a shared server's one connection serves every
 * user's. A user's share (`relay.listensPerUser`) is at most a quarter of it, so that one user never fills it.
 */
export const LISTENS_PER_CONNECTION = 16_384;

const Sharing = z.enum(["per-user", "shared"]).optional();

/**
 * Pinned definitions (docs/pinning.md): `trust-on-first-use` (the default) approves each tool, prompt, static
 * resource, resource template and the server's own description the first time it is seen and withholds any later
 * change until an administrator approves it; `require-approval` withholds even the first; `off` pins nothing.
 */
const Pinning = z.enum(["trust-on-first-use", "require-approval", "off"]).optional();

/**
 * Whether the static resources `resources/list` shows are pinned under `pinning`. Default: on a server that shows every
 * user the same (a `shared` one, or an HTTP one told nothing of the user: `identity: "none"`, no `oauth`, no
 * `googleCredentials`); a per-user server's resources are its users' data (notes, files, tickets), whose names and descriptions differ per
 * user and change with the data, and pinned per server one user's would withhold another's. `true` pins them anyway
 * (a per-user server whose resources are one fixed set for every user); its tools, prompts, templates and description
 * stay pinned either way.
 */
const PinResources = z.boolean().optional();

/**
 * Guardrails (docs/guardrails.md): hooks each tool call's arguments and result pass through, in this order, as
 * `{ "hook": "<kind>", ...options }`; each kind checks its own options at start. Absent: `[{ "hook":
 * "secret-detector" }]` (credentials in tool results are redacted); `[]` runs none.
 */
const Guardrails = z.array(z.looseObject({ hook: z.string().min(1) })).optional();

/**
 * A Google access token of the calling user, for a server that calls Google APIs on the user's behalf
 * (docs/upstream-credentials.md): Workload Identity Federation to the origin's service account (`google` block), then
 * domain-wide delegation with the user's e-mail as subject. Belongs to one user: not with `"sharing": "shared"`.
 */
const GoogleCredentials = z.strictObject({
  /** The OAuth scopes the token carries; each must be delegated to the service account's client id in the Workspace admin console. */
  scopes: z
    .array(z.string().min(1))
    .min(1, "expected at least one scope, such as https://www.googleapis.com/auth/drive.readonly"),
  /**
   * Where the token goes. `{ "header": "<name>" }` (http servers, on every request): `authorization` carries
   * `Bearer <token>`, any other header the bare token. `{ "env": "<NAME>" }` (stdio servers): the child's environment,
   * set when the child starts.
   */
  inject: z.union(
    [
      z.strictObject({ header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "expected an HTTP header name") }),
      z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name") }),
    ],
    { error: () => 'expected { "header": "<name>" } (http servers) or { "env": "<NAME>" } (stdio servers)' },
  ),
});

/** A user's Google token cannot serve every user of one shared connection. */
const GOOGLE_CREDENTIALS_NOT_SHARED = {
  path: ["sharing"],
  message:
    'expected "per-user" with googleCredentials (the Google token is the user\'s own; one shared connection cannot carry it)',
};

/**
 * A value written in the file, or read from the origin's secrets provider: `{ "secret": "NAME" }`. The file is not
 * interpolated: a `${NAME}` written as other MCP configurations do would reach the upstream as those characters, and
 * fail far from here as a credential refused.
 */
const SecretOrValue = z.union([
  z
    .string()
    .refine(
      (value) => !/\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(value),
      'expected a plain value: the file is not interpolated, so write { "secret": "NAME" } to read NAME from the secrets provider',
    ),
  z.strictObject({ secret: z.string().min(1) }),
]);

const StdioServer = z.strictObject({
  transport: z.literal("stdio"),
  /** The executable; resolved on PATH like a shell would. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  /**
   * Extra environment for the child, each a value or a secret reference (read when the child starts). The child gets
   * ONLY this, its googleCredentials token, and the origin's HOME, LOGNAME, PATH, SHELL, TERM and USER (the MCP SDK's
   * getDefaultEnvironment; with stdio.childUids, HOME and TMPDIR are its own user's home): never the origin's secrets.
   */
  env: z.record(z.string(), SecretOrValue).default({}),
  cwd: z.string().optional(),
  sharing: Sharing,
  pinning: Pinning,
  pinResources: PinResources,
  guardrails: Guardrails,
  /** The user's Google access token in the child's environment (`inject: { "env": "<NAME>" }`). Unset: none. */
  googleCredentials: GoogleCredentials.optional(),
});

/**
 * A remote MCP server protected by its own OAuth (docs/upstream-credentials.md): the origin is the OAuth client of each
 * user, sends the user through the server's consent once, and keeps the user's tokens in its encrypted vault.
 */
const UpstreamOAuth = z
  .strictObject({
    /**
     * How the origin is known to the server's authorization server: `cimd` (our Client ID Metadata Document, served by
     * the edge at `<publicUrl>/upstream-oauth/client-metadata/<server>.json`, one per server), `dcr` (dynamic client registration, RFC 7591) or
     * `static` (a client registered by hand: `clientId`, and `clientSecret` for a confidential client).
     */
    registration: z.enum(["cimd", "dcr", "static"]).default("cimd"),
    /** With `static`: the client id the authorization server issued. */
    clientId: SecretOrValue.optional(),
    /** With `static`, for a confidential client: its secret, best as `{ "secret": "NAME" }` from the secrets provider. */
    clientSecret: SecretOrValue.optional(),
    /** The scopes asked for at consent. Empty: those the server's protected-resource metadata or 401 challenge names. */
    scopes: z.array(z.string().min(1)).default([]),
    /** The authorization server's issuer URL, when the server's protected-resource metadata does not name it (RFC 9728). */
    authorizationServer: z.url({ protocol: /^https?$/ }).optional(),
  })
  .refine((oauth) => oauth.registration !== "static" || oauth.clientId !== undefined, {
    path: ["clientId"],
    message: 'expected the client id with registration "static"',
  });

/** An MCP server the origin reaches over HTTP inside the VPC. */
const HttpServer = z.strictObject({
  transport: z.literal("http"),
  /** Its MCP endpoint. Plain http is accepted: inside the VPC the network is the boundary. */
  url: z.url({ protocol: /^https?$/, message: "expected an http:// or https:// URL of the server's MCP endpoint" }),
  /**
   * `streamable-http` (2025-03-26 and later, either era: the origin negotiates) or `sse` (the 2024-11-05
   * HTTP+SSE transport: GET the URL for the stream, POST to the endpoint it names).
   */
  protocol: z.enum(["streamable-http", "sse"]).default("streamable-http"),
  /**
   * How the user's identity reaches the server: `jwt` (Authorization: Bearer, a short-lived JWT the origin signs,
   * audience = `audience`, claims sub, email, groups; keys at the origin's /.well-known/jwks.json), `headers`
   * (X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups: each group percent-encoded, joined by commas; only for
   * servers that read nothing else), or `none`.
   * Never the MCP client's own token.
   */
  identity: z.enum(["jwt", "headers", "none"]).default("jwt"),
  /** The `aud` of the identity JWT; defaults to `url`. */
  audience: z.string().min(1).optional(),
  /** Extra request headers, such as a static API key, each a value or a secret reference. */
  headers: z.record(z.string(), SecretOrValue).default({}),
  sharing: Sharing,
  pinning: Pinning,
  pinResources: PinResources,
  guardrails: Guardrails,
  /** The server is protected by its own OAuth: each user consents once and the origin sends that user's token. Unset: none. */
  oauth: UpstreamOAuth.optional(),
  /** The user's Google access token on every request (`inject: { "header": "<name>" }`). Unset: none. */
  googleCredentials: GoogleCredentials.optional(),
});

export type StdioServer = z.infer<typeof StdioServer>;
export type HttpServer = z.infer<typeof HttpServer>;

/** One shared connection would present whichever user called last to the server: it must receive no identity. */
const HttpServerSharedWithoutIdentity = HttpServer.refine((server) => server.sharing !== "shared" || server.identity === "none", {
  path: ["sharing"],
  message:
    'expected "per-user" for a server that receives the user\'s identity (one shared connection would present whichever user called last); set "identity": "none" if the server needs no identity',
});

/** The user's OAuth token takes the Authorization header, and is the user's own: it cannot serve every user. */
const HttpServerWithOAuth = HttpServerSharedWithoutIdentity.refine(
  (server) => !server.oauth || (server.identity !== "jwt" && server.sharing !== "shared"),
  {
    path: ["oauth"],
    message:
      'expected "identity": "headers" or "none" and "sharing": "per-user" with oauth (the user\'s upstream token takes the Authorization header, and belongs to one user)',
  },
);

/** A child process has no request headers: its token goes into its environment, and only one user's child gets it. */
const StdioServerWithGoogle = StdioServer.refine(
  (server) => !server.googleCredentials || "env" in server.googleCredentials.inject,
  {
    path: ["googleCredentials", "inject"],
    message: 'expected { "env": "<NAME>" } for a stdio server (a child process has no request headers)',
  },
).refine((server) => !server.googleCredentials || server.sharing !== "shared", GOOGLE_CREDENTIALS_NOT_SHARED);

/** An HTTP server's token goes in a header, not beside the user's OAuth token or the identity JWT in Authorization. */
const HttpServerWithGoogle = HttpServerWithOAuth.refine(
  (server) => !server.googleCredentials || "header" in server.googleCredentials.inject,
  {
    path: ["googleCredentials", "inject"],
    message: 'expected { "header": "<name>" } for an http server (it has no environment the origin sets)',
  },
)
  .refine((server) => !server.googleCredentials || server.sharing !== "shared", GOOGLE_CREDENTIALS_NOT_SHARED)
  .refine((server) => !server.googleCredentials || !server.oauth, {
    path: ["googleCredentials"],
    message: "expected either oauth or googleCredentials on one server, not both",
  })
  .refine(
    (server) =>
      !server.googleCredentials ||
      !("header" in server.googleCredentials.inject) ||
      server.googleCredentials.inject.header.toLowerCase() !== "authorization" ||
      server.identity !== "jwt",
    {
      path: ["googleCredentials", "inject", "header"],
      message:
        'expected "identity": "headers" or "none" when the Google token takes the Authorization header (the identity JWT takes it otherwise), or another header',
    },
  );

export const UpstreamServer = z.discriminatedUnion("transport", [StdioServerWithGoogle, HttpServerWithGoogle], {
  error: () => 'expected "transport": "stdio" (a command the origin runs per user) or "http" (a server in the VPC)',
});
export type UpstreamServer = z.infer<typeof UpstreamServer>;

export const EdgeConfig = z.strictObject({
  /** The URL clients use to reach the edge; the OAuth issuer and the base of the MCP resource `<publicUrl>/mcp`. */
  publicUrl: ServiceUrl,
  /**
   * The company or service name the consent page shows people ("Allow Claude to use Example Corp's MCP servers?").
   * Unset: the host name of `publicUrl`.
   */
  displayName: z.string().trim().min(1).max(80).optional(),
  /** Where the edge reaches the origin (the ALB in AWS). Also the `aud` of every edge assertion. */
  originUrl: ServiceUrl,
  /** The identity provider users sign in with (Google Workspace, or any OpenID provider). */
  idp: z.strictObject({
    issuer: ServiceUrl,
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    scopes: z.array(z.string()).default(["openid", "email", "profile"]),
    /** If set, only these e-mail domains may sign in (Google's `hd` claim, or the e-mail's domain). */
    allowedDomains: z.array(z.string()).default([]),
    /** The edge gives up on the IdP's discovery and token endpoints after this many seconds (sign-in fails cleanly). */
    requestTimeoutSeconds: z.number().int().min(1).max(60).default(10),
    /**
     * The id_token claim that lists the user's groups (an array of strings), read when `groups.source` is `id-token`.
     * `groups` by default; some providers use another name (`roles`, `cognito:groups`).
     */
    groupsClaim: z.string().min(1).default("groups"),
  }),
  /**
   * The upstream servers' names, as the origin serves them. Each is a protected resource of its own,
   * `<publicUrl>/mcp/<name>`, whose metadata names exactly the URL clients connect to (VS Code insists).
   */
  servers: z.array(ServerName).default([]),
  /**
   * The key that signs edge assertions, as a JWK (JSON); a Worker secret in production. A private EC P-256 key (ES256,
   * the default; its public half is published for the origin), or a shared key `{"kty":"oct",…}` of at least
   * 256 bits (HS256; the origin holds the same key in `edgeSharedKeys`). `npm run keygen` prints the first, with
   * `-- --hmac` the second.
   */
  signingKey: z.string().min(1),
  /**
   * A second EC P-256 JWK (private or public) whose public half is published beside the signing key's, for a
   * rotation without a refused request: the next key before it signs, the previous one while the switch rolls out.
   */
  signingKeyRotation: z.string().min(1).optional(),
  /**
   * HMAC key of the pseudonymous user id in Analytics Engine data points (docs/analytics.md). Unset: a key derived
   * from the signing key, which changes with it. A Worker secret; set it to keep user ids stable across rotations.
   */
  analyticsHashSecret: z.string().min(32).optional(),
  /**
   * Host names of web pages allowed to call the MCP endpoint from a browser (the host of their `Origin`; its scheme
   * and port are not compared), besides the edge's own and localhost. Requests from any other page get 403; native
   * clients send no `Origin` and are unaffected.
   */
  mcpAllowedOrigins: z.array(OriginHost).default([]),
  /**
   * How long the edge waits for the origin to start answering an MCP request before answering 504 itself. Above
   * the origin's `relay.requestTimeoutSeconds`, so that an upstream's slowness is reported by the origin.
   */
  originAnswerTimeoutSeconds: z.number().int().min(1).max(3600).default(330),
  /**
   * Live 2025-era sessions one user may hold (each `initialize`, and each 2024-11-05 stream, makes one, kept until
   * its client deletes it or it idles for a day; most clients never delete theirs). A new session past this ends
   * the user's least recently used one (of the same client first), whose client is told its session is not found
   * and initializes anew.
   */
  sessionsPerUser: z.number().int().min(1).max(10_000).default(100),
  /** Lifetime of the access tokens the edge issues to MCP clients, in seconds. */
  accessTokenTtlSeconds: z.number().int().min(60).max(86_400).default(3600),
  /**
   * How long an isolate reuses an access token it validated, instead of reading and decrypting it again on each
   * request. A token revoked elsewhere keeps working in an isolate that validated it for at most this long
   * (revocations the isolate itself handles take effect at once). 0 checks storage on every request.
   */
  tokenCacheSeconds: z.number().int().min(0).max(300).default(30),
  /**
   * How long an isolate collects audit events before queueing them as one batch (one queue call per batch, not
   * per request). The isolate is kept alive until its batch is queued, so nothing is lost by waiting.
   */
  auditBatchMilliseconds: z.number().int().min(0).max(1000).default(100),
  /**
   * At the end of a sign-in, ask the origin to start the user's upstreams (`servers`, as the policy allows) in the
   * background, so that their first call does not wait for a child process to start. Never delays the sign-in.
   */
  warmOnSignIn: z.boolean().default(true),
  /** Limits of the authorization endpoints (`/authorize`, `/oauth/token`, `/register`); see docs/configuration.md. */
  oauth: z
    .strictObject({
      /** POST bodies of `/authorize`, `/oauth/token` and `/register` larger than this are refused (413) while they stream in. */
      maxBodyBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
      /**
       * A rotated refresh token presented again within this many seconds of its rotation is honoured once more
       * (a client that lost the answer to its refresh retries it); later, a second time, or once its successor was
       * used, the whole grant is revoked as a stolen-token reuse, and so it is when the successor the retry replaced
       * comes back. 0 disables the grace.
       */
      refreshReuseGraceSeconds: z.number().int().min(0).max(600).default(30),
      /**
       * A dynamically registered client expires this many days after its registration or last renewal; a token request
       * past half of it renews it (workers-oauth-provider's renewClientRegistrationIfDue), so only an unused one expires.
       */
      registrationUnusedDays: z.number().int().min(1).max(365).default(30),
      /** Requests per client IP and minute to `/oauth/token`; more get 429 with Retry-After. */
      tokenRequestsPerMinute: z.number().int().min(1).default(120),
      /** Requests per client IP and minute to `/authorize` (the consent page and its form). */
      authorizeRequestsPerMinute: z.number().int().min(1).default(60),
      /** Registrations per client IP and minute at `/register`. */
      registrationsPerMinute: z.number().int().min(1).default(20),
      /**
       * Host names whose Client ID Metadata Documents the edge fetches even though they are local or private
       * (`localhost`, a private IP literal): for local development and tests only. Production needs none; every
       * other CIMD URL must be https on a public host (SSRF).
       */
      cimdAllowedHosts: z.array(z.string().trim().toLowerCase().min(1)).default([]),
    })
    .prefault({}),
  /** Where a user's groups come from and how fresh the edge keeps them (docs/google-workspace.md). */
  groups: z
    .strictObject({
      /**
       * `id-token`: the identity provider's id_token claim `idp.groupsClaim`, read at sign-in and kept for the grant's
       * life. `google-directory`: the origin's Google Workspace look-up (GET /identity/groups), read at sign-in, on
       * every token refresh, and again before a request whenever the groups are older than `ttlSeconds`.
       */
      source: z.enum(["id-token", "google-directory"]).default("id-token"),
      /**
       * With `google-directory`: groups older than this many seconds are read again before a request is signed, so a
       * user removed from a group loses it within this time. When they cannot be read, the request is refused (503)
       * rather than signed with older groups.
       */
      ttlSeconds: z.number().int().min(5).max(86_400).default(900),
      /**
       * Patterns (`*`, `?`, `{a,b}`, compared without case) of the groups the edge keeps; the others are dropped where
       * the groups are read, so they reach no grant, assertion, audit event or upstream identity token. Empty: every
       * group. For users in hundreds of groups (each is carried on every request, and the ALB takes a header of at
       * most 16 KiB): name the groups the policy and upstreams use. `adminGroups` are always kept.
       */
      include: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  /**
   * Members of any of these groups are granted the `mcp:admin` scope when their client asks for it (checked at
   * sign-in and on every refresh); everyone else is silently not granted it. Empty: nobody is.
   */
  adminGroups: z.array(z.string().min(1)).default([]),
  /** What the edge puts in audit events (docs/audit.md). */
  audit: z
    .strictObject({
      /**
       * Redaction of the tool and prompt arguments audit events carry, applied at the edge before an event is queued,
       * so that what it hides never leaves the edge. Environment: `AUDIT_REDACT` as JSON.
       */
      redact: z
        .strictObject({
          /** Also apply the built-in rules (common secret key names, AWS access key ids, private key blocks, tokens). */
          defaults: z.boolean().default(true),
          /** Key names whose values are hidden: a key matches when, lowercased without `-`, `_`, `.`, it ends with one. */
          keys: z.array(z.string().min(1)).default([]),
          /** JSON paths whose values are hidden: `$.a.b`, `$.list[0]`, `$.list[*].secret`, `$.map.*`. */
          paths: z
            .array(z.string().refine(isJsonPath, "expected a JSON path such as $.config.headers or $.items[*].value"))
            .default([]),
          /** Regular expressions (JavaScript syntax); each match inside a string value is hidden. */
          patterns: z.array(z.string().refine(isRegExp, "expected a JavaScript regular expression")).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  /** The ops dashboard at `/ops`, for holders of `mcp:admin` (docs/dashboard.md). */
  ops: z
    .strictObject({
      /**
       * Where its figures come from: `audit-store` (the origin's audit trail through GET /ops/stats; users by e-mail)
       * or `analytics-engine` (Workers Analytics Engine's SQL API, for production traffic; users by pseudonymous hash),
       * which needs `ops.analyticsEngine`.
       */
      source: z.enum(["audit-store", "analytics-engine"]).default("audit-store"),
      /** Analytics Engine's SQL API, read with an API token that has Account Analytics: Read. */
      analyticsEngine: z
        .strictObject({
          /** The Cloudflare account that holds the dataset (32 hexadecimal digits). */
          accountId: z.string().regex(/^[0-9a-f]{32}$/, "expected the 32-hexadecimal-digit Cloudflare account id"),
          /** An API token with Account Analytics: Read. A Worker secret (`OPS_ANALYTICS_API_TOKEN`). */
          apiToken: z.string().min(1),
          /** The dataset the edge writes (wrangler.toml `analytics_engine_datasets`). */
          dataset: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "expected a dataset name: letters, digits and underscores")
            .default("mcp_edge_proxy"),
          /** The SQL API's URL; change it only to point at a stand-in. Default: Cloudflare's, for `accountId`. */
          sqlUrl: ServiceUrl.optional(),
        })
        .optional(),
      /**
       * The audit queues whose backlog the dashboard shows, read from Cloudflare's GraphQL Analytics API with
       * `ops.analyticsEngine`'s account and token (which then needs Account Analytics: Read), whatever `source` is.
       */
      queues: z
        .strictObject({
          /** The audit queue's id (`wrangler queues info mcp-audit`; 32 hexadecimal digits). */
          auditQueueId: z.string().regex(/^[0-9a-f]{32}$/, "expected a queue id (wrangler queues info mcp-audit)"),
          /** The dead-letter queue's id (`wrangler queues info mcp-audit-dead-letter`). */
          deadLetterQueueId: z
            .string()
            .regex(/^[0-9a-f]{32}$/, "expected a queue id (wrangler queues info mcp-audit-dead-letter)"),
          /** The GraphQL API's URL; change it only to point at a stand-in. Default: Cloudflare's. */
          graphqlUrl: ServiceUrl.optional(),
        })
        .optional(),
    })
    .refine((ops) => ops.source !== "analytics-engine" || ops.analyticsEngine, {
      path: ["analyticsEngine"],
      message:
        'expected accountId and apiToken (OPS_ANALYTICS_ACCOUNT_ID, OPS_ANALYTICS_API_TOKEN) with source "analytics-engine"',
    })
    .refine((ops) => !ops.queues || ops.analyticsEngine, {
      path: ["queues"],
      message:
        "expected accountId and apiToken (OPS_ANALYTICS_ACCOUNT_ID, OPS_ANALYTICS_API_TOKEN) with the audit queue ids: the queues are read with that account's token",
    })
    .prefault({}),
});
export type EdgeConfig = z.infer<typeof EdgeConfig>;

const OriginFields = z.strictObject({
  /** Interface and port the origin listens on. In AWS the ALB reaches it on 0.0.0.0. */
  host: z
    .string()
    .regex(/^\S+$/, "expected an address to listen on, such as 0.0.0.0 or 127.0.0.1 (no spaces)")
    .default("127.0.0.1"),
  port: z.number().int().min(1).max(65_535).default(8788),
  /** This origin's URL as the edge names it (the edge's `originUrl`): the `aud` assertions must carry. */
  publicUrl: ServiceUrl,
  /** The edge's `publicUrl`: the `iss` assertions must carry. */
  edgeIssuer: ServiceUrl,
  /** Where the edge publishes its assertion-signing keys; defaults to `<edgeIssuer>/.well-known/edge-jwks.json`. */
  edgeJwksUrl: ServiceUrl.optional(),
  /**
   * The edge's shared HMAC keys, for a deployment whose edge signs with one (`EDGE_SIGNING_KEY` of `"kty":"oct"`):
   * that same JWK, or a JWK set `{"keys":[…]}` holding the old and the new key during a rotation. The origin then
   * accepts only HS256 assertions under these keys and fetches no key set from the edge. A secret.
   */
  edgeSharedKeys: z.string().min(1).optional(),
  /** PostgreSQL for audit and the replay guard. Without it `npm start` runs an embedded one. */
  databaseUrl: z.string().startsWith("postgres", "expected a postgres:// or postgresql:// URL").optional(),
  /** Connections the origin keeps to it (the embedded database takes exactly one). */
  databasePoolMax: z.number().int().min(1).max(100).default(10),
  /**
   * An AWS Secrets Manager secret (id or ARN) whose JSON holds the database login's `password`, as RDS secrets do:
   * read when a connection opens, not once at start, so that a rotation of it needs no restart. Set on AWS by the CDK
   * stack; the login's other parts still come from `databaseUrl` and the `PG*` variables (docs/deploy.md).
   */
  databasePasswordSecret: z.string().min(1).optional(),
  /**
   * How the origin treats the schema at start: `at-start` applies pending migrations (it then logs in as the schema's
   * owner, as `npm start` does); `verify` only checks that every migration has run and refuses to start otherwise, for
   * an origin whose database role has no DDL rights while the owner migrates elsewhere (on AWS, the task's `migrate`
   * container: docs/deploy.md, "Database roles").
   */
  databaseMigrate: z.enum(["at-start", "verify"]).default("at-start"),
  /** The upstream MCP servers, by name. */
  servers: z.record(ServerName, UpstreamServer).default({}),
  /**
   * Who may use which servers and tools (contract/config/policy.ts, docs/policy.md). Absent: every signed-in user
   * may use every server and tool (the origin says so at start). Present: only what a rule allows.
   */
  policy: Policy.optional(),
  /** The aggregated endpoint `/mcp`: every server a user may use, behind one address. */
  aggregate: z
    .strictObject({
      /** A server that has not answered a list (or started) within this many seconds is left out of that answer. */
      upstreamTimeoutSeconds: z.number().min(0.1).max(120).default(10),
    })
    .prefault({}),
  stdio: z
    .strictObject({
      /** A user's child process is stopped after this long without a request. */
      idleTimeoutSeconds: z.number().int().min(1).default(600),
      /**
       * At most this many children (and HTTP upstream connections) at once across all users. At the bound the least
       * recently used idle one is stopped to make room; only when every one is busy is the next spawn refused (503).
       */
      maxProcesses: z.number().int().min(1).default(100),
      /**
       * Runs each stdio child as a Unix user of its own, taken from `first` … `first + count - 1` while it runs (its
       * group the same number, no other groups, no capabilities, no new privileges, a fresh home directory). A child
       * then cannot read the origin's environment or memory (its secrets: the database password, signing keys) nor
       * another child's (another user's Google token), which it can when all run as the origin's user. Needs the
       * origin to run as root (the Dockerfile's image does) and `setpriv` (util-linux). Unset: children run as the
       * origin's own user, for `npm start` on a laptop. Give as many as children can run at once: `maxProcesses`,
       * twice that for servers with `googleCredentials` (a child and its replacement overlap).
       */
      childUids: z
        .strictObject({
          // Well above the image's own users (node is 1000) and any a distribution creates.
          first: z.number().int().min(10_000).max(2_000_000_000),
          count: z.number().int().min(1).max(1_000_000),
        })
        .optional(),
    })
    .refine((stdio) => !stdio.childUids || stdio.childUids.count >= stdio.maxProcesses, {
      path: ["childUids", "count"],
      message: "expected at least stdio.maxProcesses child users (one per child that may run at once)",
    })
    .prefault({}),
  /**
   * HMAC key (at least 32 characters) that seals the state of input-required exchanges (`requestState`). Every
   * origin instance must have the same one, so that a retry reaching another instance is still recognised.
   * A secret. Unset, each instance makes its own at start and says so in its log (fine for one instance).
   */
  requestStateKey: z.string().min(32, "expected at least 32 characters (a random secret)").optional(),
  /** How the origin relays MCP to upstreams. */
  relay: z
    .strictObject({
      /** An upstream request with no answer and no progress for this long fails with a clean error. */
      requestTimeoutSeconds: z.number().int().min(1).max(3600).default(300),
      /**
       * An upstream connection whose MCP handshake is not done within this long fails to start, with an error that
       * says so: a stdio command that runs but does not speak MCP on its stdout, an HTTP server that does not answer.
       */
      connectTimeoutSeconds: z.number().int().min(1).max(600).default(30),
      /** A call that asked the client for input (sampling, elicitation, roots) waits this long for the client's retry. */
      inputWaitSeconds: z.number().int().min(10).max(MAX_INPUT_WAIT_SECONDS).default(600),
      /** SSE comment every this many seconds on long responses, so idle-cutting proxies keep them open (0 disables). */
      keepAliveSeconds: z.number().int().min(0).max(300).default(15),
      /**
       * After this many failures in a row to start or reach one upstream connection (a user's, or a shared server's):
       * a child that would not start, a server that refused the connection or did not answer in time, the origin
       * refuses requests for it at once (503 with Retry-After) for `breakerOpenSeconds`, then lets one through to try
       * again. An error the upstream answers with is not a failure. 0 never stops trying.
       */
      breakerFailures: z.number().int().min(0).max(100).default(5),
      /** How long an upstream connection that kept failing is left alone before one request tries it again. */
      breakerOpenSeconds: z.number().int().min(1).max(3600).default(30),
      /**
       * The largest message the origin reads from an upstream, in MiB: an HTTP answer's whole body (counted inflated),
       * one event of an SSE stream (a stream itself may live as long as it likes), one stdio line. Past it the
       * connection is closed as broken, its calls answered -32000 naming this setting, and its circuit breaker counts a
       * failure: one answer cannot take the origin's memory from every user.
       */
      maxUpstreamMessageMiB: z.number().int().min(1).max(256).default(10),
      /**
       * The most `subscriptions/listen` streams one user holds open on one server, per instance: a 2025-era session's
       * GET stream is one. Keep it above the edge's `sessionsPerUser`: a session past it gets no notifications from
       * that server. At most a quarter of a shared server's connection (LISTENS_PER_CONNECTION), which one user cannot fill.
       */
      listensPerUser: z
        .number()
        .int()
        .min(1)
        .max(LISTENS_PER_CONNECTION / 4)
        .default(DEFAULT_LISTENS_PER_USER),
    })
    .prefault({}),
  /** How the origin vouches for users towards HTTP upstreams. */
  upstreamIdentity: z
    .strictObject({
      /**
       * Private EC P-256 JWK (with `kid`) the origin signs identity JWTs with; its public half is served at
       * /.well-known/jwks.json. A secret, the same on every instance. Unset, each instance makes its own at start.
       * During a rotation a set `{"keys":[…]}`: the first signs, every key's public half is published.
       */
      signingKey: z.string().min(1).optional(),
      /** Lifetime of an identity JWT, in seconds. */
      ttlSeconds: z.number().int().min(30).max(3600).default(300),
    })
    .prefault({}),
  /**
   * This instance's name in the stickiness cookie (`MCP_ORIGIN`) the balancer keys on. Defaults to the host
   * name and process id, which is unique per ECS task. A random part is added at each start: assertions the edge
   * bound to an earlier run of the task (remembered only in its memory) are then refused as another instance's.
   */
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "expected 1-64 letters, digits, dots, dashes or underscores")
    .optional(),
  /** The audit trail in PostgreSQL. */
  audit: z
    .strictObject({
      /** Events older than this many days are deleted (at start, then hourly). Unset keeps them forever. */
      retentionDays: z.number().int().min(1).max(36_500).optional(),
      /** Signed checkpoints of the audit hash chains: each chain's head, signed now and then (docs/audit.md). */
      checkpoints: z
        .strictObject({
          /** A chain's head is signed once this many rows were added to it since its last checkpoint. */
          everyRows: z.number().int().min(1).max(1_000_000).default(1000),
          /** And at least this often while rows keep arriving: a head with new rows older than this is signed. */
          everySeconds: z.number().int().min(1).max(86_400).default(300),
          /** `kms`: an asymmetric AWS KMS key (ECDSA_SHA_256) signs, for production. `local`: a P-256 key of the origin's own. */
          signer: z.enum(["local", "kms"]).default("local"),
          /** With `kms`: the key's id, ARN or alias (`alias/mcp-edge-proxy-audit-checkpoints`, as the CDK app names it); its spec must be ECC_NIST_P256, usage SIGN_VERIFY. */
          kmsKeyId: z.string().min(1).optional(),
          /** With `kms`: the key's region. Unset: the AWS SDK's (AWS_REGION, or the profile's; not AWS_DEFAULT_REGION). */
          kmsRegion: AwsRegion.optional(),
          /** With `kms`: another KMS endpoint. Change it only to point at a stand-in (the tests' fake KMS). */
          kmsEndpoint: z.url().optional(),
          /** With `local`: the private EC P-256 key, as a PKCS#8 PEM or a JWK. A secret. */
          localKey: z.string().min(1).optional(),
          /**
           * With `local` and no `localKey`: a file holding the key, made (mode 0600) on first start if missing. Neither
           * set: a key is made for each run and only its public half is kept (in the database), which proves little.
           */
          localKeyFile: z.string().min(1).optional(),
        })
        .refine((checkpoints) => checkpoints.signer !== "kms" || checkpoints.kmsKeyId !== undefined, {
          path: ["kmsKeyId"],
          message: 'expected the KMS key id, ARN or alias with signer "kms"',
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * The vault of users' upstream OAuth tokens (docs/upstream-credentials.md): each row is sealed with AES-256-GCM under a
   * data key of its own, itself encrypted by AWS KMS (`kmsKeyId`) or, for `npm start`, by a local key.
   */
  upstreamVault: z
    .strictObject({
      /** A symmetric KMS key (SYMMETRIC_DEFAULT) whose GenerateDataKey and Decrypt the origin's role may call. Unset: the local key. */
      kmsKeyId: z.string().min(1).optional(),
      /** With `kmsKeyId`: the key's region. Unset: the AWS SDK's (AWS_REGION, or the profile's; not AWS_DEFAULT_REGION). */
      kmsRegion: AwsRegion.optional(),
      /** With `kmsKeyId`: another KMS endpoint. Change it only to point at a stand-in (the tests' fake KMS). */
      kmsEndpoint: z.url().optional(),
      /**
       * Without `kmsKeyId`: the key-encryption key, 32 bytes in base64. A secret. Unset too: a key made for each run, so
       * stored tokens are unreadable after a restart and users consent again (fine for `npm start`, never for production).
       */
      localKey: z
        .string()
        .regex(/^[A-Za-z0-9+/]{43}=$/, "expected 32 bytes in base64 (openssl rand -base64 32)")
        .optional(),
      /**
       * With `kmsKeyId`: how long a row's data key, once KMS decrypted it, is kept in this instance's memory, so that a
       * user's calls to an OAuth upstream do not each cost a KMS Decrypt. 0: ask KMS every time. Revocation is not
       * delayed by it (the row is read on every use).
       */
      keyCacheSeconds: z.number().int().min(0).max(3600).default(300),
    })
    .prefault({}),
  /** Prometheus metrics (docs/metrics.md). */
  metrics: z
    .strictObject({
      /** A second port serving only GET /metrics, without an assertion, for a scraper inside the VPC (never behind the ALB). Unset: none. */
      port: z.number().int().min(1).max(65_535).optional(),
    })
    .prefault({}),
  /**
   * Google Workspace groups for the edge (GET /identity/groups), read from the Admin Directory API through Workload
   * Identity Federation: the task's AWS credentials are exchanged at Google's STS, the service account is
   * impersonated, and domain-wide delegation acts as `adminUser` (docs/google-workspace.md). Unset: no such route.
   */
  google: z
    .strictObject({
      /** The workload identity pool provider: `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`. */
      audience: z
        .string()
        .regex(
          /^\/\/iam\.googleapis\.com\/projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/]+\/providers\/[^/]+$/,
          "expected //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>",
        ),
      /** The service account impersonated (its e-mail). It needs domain-wide delegation and Token Creator on itself. */
      serviceAccount: z.email({
        message: "expected the service account's e-mail, such as groups-reader@project.iam.gserviceaccount.com",
      }),
      /**
       * The Workspace user the service account acts as through domain-wide delegation to read groups; it needs a role
       * that reads them. Unset: no group look-up (`GET /identity/groups` answers 404), for a block that serves only
       * servers' `googleCredentials`.
       */
      adminUser: z.email({ message: "expected a Workspace administrator's e-mail" }).optional(),
      /** AWS region of the task's credentials (the signed GetCallerIdentity request names it). Unset: AWS_REGION or AWS_DEFAULT_REGION. */
      awsRegion: AwsRegion.optional(),
      /**
       * Also read each user's account (Admin SDK `users.get`) with their groups, and tell the edge when it is
       * suspended, archived or gone: the edge then refuses that user's requests, refreshes and sign-ins and revokes
       * every grant of theirs (docs/google-workspace.md). The delegation needs the extra scope
       * `https://www.googleapis.com/auth/admin.directory.user.readonly`, and `adminUser` a role that reads users. A user
       * the Directory does not know counts as gone (deleted): turn it on only when every user who signs in is a user of
       * the Workspace (no guests of another domain). Off: only groups are read, with the group scope alone.
       */
      checkAccounts: z.boolean().default(false),
      /** How long the origin reuses a user's groups (and account) before asking the Directory again (0: every time). */
      cacheSeconds: z.number().int().min(0).max(3600).default(60),
      /** Each call to Google gives up after this many seconds. */
      requestTimeoutSeconds: z.number().int().min(1).max(60).default(10),
      /** Google's endpoints. Change them only to point at stand-ins (the local fakes of `npm start` and the tests). */
      endpoints: z
        .strictObject({
          /** Security Token Service token exchange (`token_url`). */
          sts: ServiceUrl.default("https://sts.googleapis.com/v1/token"),
          /** IAM Credentials API root (generateAccessToken, signJwt). */
          iamCredentials: ServiceUrl.default("https://iamcredentials.googleapis.com"),
          /** OAuth token endpoint of the JWT-bearer grant; also the `aud` of the delegation JWT. */
          oauthToken: ServiceUrl.default("https://oauth2.googleapis.com/token"),
          /** Admin SDK root (`/admin/directory/v1/groups`, `/admin/directory/v1/users/<user>`). */
          directory: ServiceUrl.default("https://admin.googleapis.com"),
        })
        .prefault({}),
    })
    .optional(),
});

/** The origin's configuration, with the checks that span keys. */
export const OriginConfig = OriginFields.superRefine((origin, context) => {
  edgeKeysProblems(origin, context);
  sharedAudienceProblems(origin, context);
  if (origin.metrics.port === origin.port)
    context.addIssue({
      code: "custom",
      path: ["metrics", "port"],
      message: `expected a port of its own: ${origin.port} is the origin's port (the metrics are served apart from the ALB's traffic)`,
    });
  childUsersProblems(origin, context);
  // A server's Google credentials come through the same federation as the groups look-up.
  if (origin.google) return;
  for (const [name, server] of Object.entries(origin.servers))
    if (server.googleCredentials)
      context.addIssue({
        code: "custom",
        path: ["servers", name, "googleCredentials"],
        message:
          "expected the origin's google block (Workload Identity Federation and the service account, docs/google-workspace.md) with googleCredentials",
      });
});
export type OriginConfig = z.infer<typeof OriginConfig>;

/**
 * Unix users (`stdio.childUids`) one stdio child may hold at once: two when a stdio server has `googleCredentials`,
 * whose child is replaced when the user's Google token is renewed and overlaps its replacement; one otherwise. The
 * CDK's bound on `stdio.maxProcesses` (the image's child users) uses it too.
 */
export function childUsersPerChild(servers: Record<string, UpstreamServer>): 1 | 2 {
  return Object.values(servers).some((server) => server.transport === "stdio" && server.googleCredentials) ? 2 : 1;
}

/** Why a child needs two users, as both configurations say it. */
export const TWO_USERS_PER_GOOGLE_CHILD = "a stdio server with googleCredentials needs two per child";

/** Enough child users for `maxProcesses` children, twice that with `googleCredentials` (fewer than one each: the stdio refine). */
function childUsersProblems(origin: z.infer<typeof OriginFields>, context: z.RefinementCtx): void {
  const { childUids, maxProcesses } = origin.stdio;
  const needed = maxProcesses * childUsersPerChild(origin.servers);
  if (!childUids || childUids.count < maxProcesses || childUids.count >= needed) return;
  context.addIssue({
    code: "custom",
    path: ["stdio", "childUids", "count"],
    message: `expected at least twice stdio.maxProcesses (${needed}) child users: ${TWO_USERS_PER_GOOGLE_CHILD} (a child and its replacement overlap when the user's Google token is renewed)`,
  });
}

/**
 * Each HTTP server verifying identity JWTs has an audience of its own: two sharing one would accept each other's
 * tokens, so one of them (a compromised upstream) could replay a user's token to the other.
 */
export function sharedAudienceProblems(origin: z.infer<typeof OriginFields>, context: z.RefinementCtx): void {
  const claimed = new Map<string, string>();
  for (const [name, server] of Object.entries(origin.servers)) {
    if (server.transport !== "http" || server.identity !== "jwt") continue;
    const audience = server.audience ?? server.url;
    const other = claimed.get(audience);
    if (other === undefined) claimed.set(audience, name);
    else
      context.addIssue({
        code: "custom",
        path: ["servers", name, "audience"],
        message: `expected an identity audience of its own: server "${other}" has ${JSON.stringify(audience)} too, so each would accept the other's tokens`,
      });
  }
}

/** The origin trusts one kind of edge key: shared keys that parse, and no key-set URL beside them. */
function edgeKeysProblems(origin: z.infer<typeof OriginFields>, context: z.RefinementCtx): void {
  if (origin.edgeSharedKeys === undefined) return;
  if (origin.edgeJwksUrl !== undefined)
    context.addIssue({
      code: "custom",
      path: ["edgeJwksUrl"],
      message: "set edgeJwksUrl (the edge signs with an EC key) or edgeSharedKeys (it signs with a shared key), not both",
    });
  try {
    parseSharedKeySet(origin.edgeSharedKeys);
  } catch (error) {
    context.addIssue({ code: "custom", path: ["edgeSharedKeys"], message: (error as Error).message });
  }
}
