import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Client ID Metadata Documents are fetched over https only, so the edge tests serve theirs from a loopback https
// server whose certificate workerd must trust. Miniflare adds the certificates in NODE_EXTRA_CA_CERTS to workerd's
// trust store when it is loaded, so vitest.config.ts calls `testTls()` before it loads the Cloudflare plugin: it makes a
// certificate for localhost and 127.0.0.1 and its throwaway CA (once per test run), and adds the CA to that bundle.

const DIRECTORY_VARIABLE = "EDGE_TEST_TLS_DIR";

export interface TestTls {
  key: string;
  cert: string;
}

/** The test certificate and its key for `localhost` (made on first use in this process tree). */
export function testTls(): TestTls {
  const directory = process.env[DIRECTORY_VARIABLE] ?? makeCertificate();
  return { key: readFileSync(join(directory, "key.pem"), "utf8"), cert: readFileSync(join(directory, "cert.pem"), "utf8") };
}

function makeCertificate(): string {
  const directory = mkdtempSync(join(tmpdir(), "edge-test-tls-"));
  process.on("exit", () => rmSync(directory, { recursive: true, force: true }));
  const file = (name: string) => join(directory, name);
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"];
  // workerd (rustls) refuses a self-signed certificate as a server's own, so a throwaway CA signs the server's.
  const ca = ["-subj", "/CN=edge tests CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"];
  execFileSync("openssl", ["req", "-x509", ...ecKey, ...ca, "-keyout", file("ca-key.pem"), "-out", file("ca.pem")]);
  const server = [
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext",
    "basicConstraints=CA:FALSE",
  ];
  const signedByCa = ["-CA", file("ca.pem"), "-CAkey", file("ca-key.pem")];
  execFileSync("openssl", [
    "req",
    "-x509",
    ...ecKey,
    ...server,
    ...signedByCa,
    "-keyout",
    file("key.pem"),
    "-out",
    file("cert.pem"),
  ]);
  const inherited = process.env.NODE_EXTRA_CA_CERTS;
  const bundle = join(directory, "trusted.pem");
  const earlier = inherited && existsSync(inherited) ? readFileSync(inherited, "utf8") : "";
  writeFileSync(bundle, `${readFileSync(file("ca.pem"), "utf8")}\n${earlier}`);
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  process.env[DIRECTORY_VARIABLE] = directory;
  return directory;
}
