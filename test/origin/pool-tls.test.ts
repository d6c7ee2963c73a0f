import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPool, sslFromEnvironment } from "../../aws/origin/db/pool.ts";

/**
 * The RDS CA bundle is trusted by the database pool alone (PGSSLROOTCERT), never process-wide (NODE_EXTRA_CA_CERTS):
 * a CA of its own here stands for it, and a stand-in server answers PostgreSQL's SSLRequest and shakes hands.
 */
describe("the database pool's TLS trust (PGSSLROOTCERT, docs/security.md)", () => {
  const directory = mkdtempSync(join(tmpdir(), "pool-tls-"));
  const caFile = join(directory, "ca.pem");
  let server: Server;
  let port = 0;
  const saved = { ...process.env };

  beforeAll(async () => {
    // Self-signed for localhost only: the CA and the server's certificate in one, trusted by nothing else.
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"],
        ...["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        ...["-keyout", join(directory, "key.pem"), "-out", caFile],
      ],
      { stdio: "ignore" },
    );
    const key = readFileSync(join(directory, "key.pem"), "utf8");
    const cert = readFileSync(caFile, "utf8");
    server = createServer((socket) => {
      // SSLRequest (8 bytes) answered 'S', then TLS; after the handshake the stand-in hangs up.
      socket.once("data", () => {
        socket.write("S");
        const tls = new TLSSocket(socket, { isServer: true, key, cert });
        tls.on("secure", () => tls.destroy());
        tls.on("error", () => socket.destroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterEach(() => {
    process.env = { ...saved };
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(directory, { recursive: true, force: true });
  });

  /** The error the pool's first connection ends with: past the handshake, the stand-in's hang-up. */
  async function connectWith(env: Record<string, string>): Promise<string> {
    process.env = { ...saved, PGHOST: "localhost", PGPORT: String(port), PGUSER: "u", PGDATABASE: "d", ...env };
    const pool = createPool("postgresql://", { max: 1 });
    try {
      await pool.query("SELECT 1");
      return "connected";
    } catch (error) {
      return `${(error as NodeJS.ErrnoException).code ?? ""} ${(error as Error).message}`;
    } finally {
      await pool.end();
    }
  }

  it("reads the CA file PGSSLROOTCERT names into the pool's TLS options, with pg's verification left on", () => {
    const options = sslFromEnvironment({ PGSSLMODE: "verify-full", PGSSLROOTCERT: caFile });
    expect(options).toEqual({ ssl: { ca: readFileSync(caFile, "utf8") } });
    expect(() => sslFromEnvironment({ PGSSLMODE: "verify-full", PGSSLROOTCERT: join(directory, "none.pem") })).toThrow(
      /^PGSSLROOTCERT names .*none\.pem, which cannot be read \(ENOENT\)$/,
    );
  });

  it("changes nothing without PGSSLROOTCERT, or when PGSSLMODE leaves TLS off", () => {
    expect(sslFromEnvironment({ PGSSLMODE: "verify-full" })).toBeUndefined();
    for (const mode of [undefined, "disable", "no-verify"])
      expect(sslFromEnvironment({ PGSSLMODE: mode, PGSSLROOTCERT: caFile }), mode).toBeUndefined();
  });

  it("trusts the server whose certificate chains to that CA and matches the host name", async () => {
    const ended = await connectWith({ PGSSLMODE: "verify-full", PGSSLROOTCERT: caFile });
    // Past TLS: the stand-in hung up where PostgreSQL would have asked for the password.
    expect(ended).not.toMatch(/certificate|self.signed|altname/i);
    expect(ended).toMatch(/Connection terminated|ECONNRESET/);
  });

  it("refuses the same server without the CA (Node's default store), and under a name its certificate lacks", async () => {
    expect(await connectWith({ PGSSLMODE: "verify-full" })).toMatch(/self.signed|unable to verify/i);
    const wrongName = await connectWith({ PGSSLMODE: "verify-full", PGSSLROOTCERT: caFile, PGHOST: "127.0.0.1" });
    expect(wrongName).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });
});
