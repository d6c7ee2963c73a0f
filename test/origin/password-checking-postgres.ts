import { createServer, type Server, type Socket } from "node:net";
import { startFakeSecretsManager } from "../aws/secrets-manager-fake.ts";

/**
 * A stand-in PostgreSQL server that checks a password, as RDS does and the test servers (trust authentication, PGlite)
 * do not: it asks for the password in clear text, refuses a wrong one with SQLSTATE 28P01 as PostgreSQL words it, and
 * answers any simple query with one row holding 1. Enough of the wire protocol (version 3) for `pg` to log in and ask.
 */
export interface PasswordCheckingPostgres {
  port: number;
  /** The password it accepts now: change it to stand for a rotation. */
  accepted: string;
  /** Every password it was given, in order, accepted or not. */
  attempts: string[];
  /** Closes every open connection, as a restart or an idle timeout would, so the next query opens a new one. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startPasswordCheckingPostgres(accepted: string): Promise<PasswordCheckingPostgres> {
  const sockets = new Set<Socket>();
  const state = { accepted, attempts: [] as string[] };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffer = Buffer.alloc(0);
    let started = false;
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        // The startup message has no type byte; every later message starts with one.
        const offset = started ? 1 : 0;
        if (buffer.length < offset + 4) return;
        const length = buffer.readInt32BE(offset);
        if (buffer.length < offset + length) return;
        const type = started ? String.fromCharCode(buffer[0] as number) : "startup";
        const body = buffer.subarray(offset + 4, offset + length);
        buffer = buffer.subarray(offset + length);
        started = true;
        answer(socket, type, body, state);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(state, {
    port: (server.address() as { port: number }).port,
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

function answer(socket: Socket, type: string, body: Buffer, state: { accepted: string; attempts: string[] }): void {
  if (type === "startup") return void socket.write(message("R", int32(3))); // AuthenticationCleartextPassword
  if (type === "p") {
    const password = body.subarray(0, body.indexOf(0)).toString("utf8");
    state.attempts.push(password);
    if (password !== state.accepted) {
      // Each field: its one-letter code, then its text (severity, SQLSTATE, message).
      const fields = ["SFATAL", "VFATAL", "C28P01", 'Mpassword authentication failed for user "u"'];
      socket.end(message("E", Buffer.concat([...fields.map(cstring), Buffer.alloc(1)])));
      return;
    }
    return void socket.write(Buffer.concat([message("R", int32(0)), ready()]));
  }
  if (type === "Q") {
    const column = Buffer.concat([cstring("?column?"), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)]);
    socket.write(
      Buffer.concat([
        message("T", Buffer.concat([int16(1), column])),
        message("D", Buffer.concat([int16(1), int32(1), Buffer.from("1")])),
        message("C", cstring("SELECT 1")),
        ready(),
      ]),
    );
    return;
  }
  if (type === "X") socket.end();
}

const ready = () => message("Z", Buffer.from("I"));

function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

const cstring = (text: string) => Buffer.concat([Buffer.from(text, "utf8"), Buffer.alloc(1)]);

/** A database secret's id in Secrets Manager, as the stand-ins below hold it. */
export const DATABASE_SECRET_ID = "proxy/database-app";

/**
 * The stand-in database refusing every version of a rotated secret (current `current-pw`, previous `previous-pw`) that
 * the Secrets Manager stand-in holds at {@link DATABASE_SECRET_ID}, and the AWS variables that point the SDK at it.
 */
export async function refusingEveryVersion(): Promise<{
  server: PasswordCheckingPostgres;
  awsEnv: Record<string, string>;
  close(): Promise<void>;
}> {
  const secrets = await startFakeSecretsManager();
  const server = await startPasswordCheckingPostgres("the-database-has-this-one");
  const stored = (password: string) => JSON.stringify({ username: "origin", password });
  secrets.secrets.set(DATABASE_SECRET_ID, {
    value: stored("current-pw"),
    versionId: "v2",
    stages: { AWSPREVIOUS: stored("previous-pw") },
  });
  return {
    server,
    awsEnv: {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "placeholder-secret-key",
    },
    close: async () => {
      await server.close();
      await secrets.close();
    },
  };
}
