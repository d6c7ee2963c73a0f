import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/** The claims an upstream learns about the user it serves. */
export interface UpstreamUser {
  sub: string;
  email?: string;
  groups?: string[];
}

export interface UpstreamIdentity {
  /** A short-lived JWT naming the user, for one upstream (its audience). Cached until it nears expiry. */
  tokenFor(user: UpstreamUser, audience: string): Promise<string>;
  /** The public key set upstreams verify these tokens with (served at /.well-known/jwks.json). */
  jwks(): { keys: JWK[] };
}

const ALG = "ES256";

/** Where the origin publishes the public half of its upstream identity key. */
export const UPSTREAM_JWKS_PATH = "/.well-known/jwks.json";
/** A cached token is replaced when less than this much of its life is left. */
const RENEW_BEFORE_SECONDS = 30;

/**
 * Signs identity JWTs for upstreams (ES256, `typ` JWT, `iss` = the origin's URL). With no configured key each
 * instance makes its own, which only works while one instance serves all traffic; say so once. With a set of keys
 * (a rotation) the first signs and all are published.
 */
export async function createUpstreamIdentity(options: {
  issuer: string;
  signingKey?: string;
  ttlSeconds: number;
  log: (line: string) => void;
}): Promise<UpstreamIdentity> {
  const { privateKey, signingKid, published } = await loadKey(options.signingKey, options.log);
  const cache = new Map<string, { token: string; expiresAt: number }>();
  return {
    async tokenFor(user, audience) {
      const key = JSON.stringify([user.sub, user.email, user.groups, audience]);
      const now = Math.floor(Date.now() / 1000);
      const cached = cache.get(key);
      if (cached && cached.expiresAt - now > RENEW_BEFORE_SECONDS) return cached.token;
      const token = await new SignJWT({ ...(user.email && { email: user.email }), ...(user.groups && { groups: user.groups }) })
        .setProtectedHeader({ alg: ALG, typ: "JWT", kid: signingKid })
        .setIssuer(options.issuer)
        .setAudience(audience)
        .setSubject(user.sub)
        .setIssuedAt(now)
        .setExpirationTime(now + options.ttlSeconds)
        .setJti(crypto.randomUUID())
        .sign(privateKey);
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { token, expiresAt: now + options.ttlSeconds });
      return token;
    },
    jwks: () => ({ keys: published }),
  };
}

const KEY_SHAPE =
  'a private EC P-256 JWK with "kid" and "d" (npm run keygen prints one), or during a rotation a set {"keys":[<signing>, <published>…]}';

/**
 * The configured key, or a set of them during a rotation: the first signs, every key's public half is published, so
 * upstreams can learn a key before it signs and keep verifying tokens an older key signed until they expire.
 */
async function loadKey(configured: string | undefined, log: (line: string) => void) {
  if (!configured) {
    log(
      "UPSTREAM_IDENTITY_SIGNING_KEY is not set: this instance signs upstream identity tokens with a key of its own (set it on every instance when running several)",
    );
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: `origin-${crypto.randomUUID().slice(0, 8)}`, alg: ALG, use: "sig" };
    return { privateKey, signingKid: publicJwk.kid, published: [publicJwk] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(configured);
  } catch {
    throw new Error(`UPSTREAM_IDENTITY_SIGNING_KEY is not JSON: expected ${KEY_SHAPE}`);
  }
  const keys = typeof parsed === "object" && parsed !== null && "keys" in parsed ? parsed.keys : [parsed];
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isPrivateP256))
    throw new Error(`UPSTREAM_IDENTITY_SIGNING_KEY must be ${KEY_SHAPE}; every key of a set is a private key too`);
  const kids = keys.map((key) => key.kid);
  if (new Set(kids).size !== kids.length)
    throw new Error(`UPSTREAM_IDENTITY_SIGNING_KEY holds two keys with one kid (${kids.join(", ")}): give each its own`);
  // Every key is imported, so that one an upstream's JWKS parser would choke on (a point off the curve) stops the start.
  const [privateKey] = await Promise.all(
    keys.map((key) =>
      importJWK(key, ALG).catch((error: Error) => {
        throw new Error(`UPSTREAM_IDENTITY_SIGNING_KEY: the key "${key.kid}" is not a usable P-256 key (${error.message})`);
      }),
    ),
  );
  const [signing] = keys as [JWK & { kid: string }];
  const published = keys.map(({ d: _private, ...publicJwk }) => ({ ...publicJwk, alg: ALG, use: "sig" }));
  return { privateKey: privateKey as CryptoKey, signingKid: signing.kid, published };
}

const isPrivateP256 = (key: unknown): key is JWK & { kid: string } => {
  const jwk = key as JWK | null;
  return typeof jwk === "object" && jwk !== null && jwk.kty === "EC" && jwk.crv === "P-256" && !!jwk.d && !!jwk.kid;
};
