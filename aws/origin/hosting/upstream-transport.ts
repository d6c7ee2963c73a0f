import type { ChildProcess } from "node:child_process";
import { SSEClientTransport, StreamableHTTPClientTransport, type Transport } from "@modelcontextprotocol/client";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { UpstreamServer } from "../../../contract/config/schema.ts";
import { wellFormed } from "../../../contract/well-formed.ts";
import type { UpstreamIdentity, UpstreamUser } from "../identity/upstream-identity.ts";
import type { SecretsProvider } from "../secrets/provider.ts";
import { readValues, secretNames } from "../secrets/read-values.ts";
import { boundedResponse, DEFAULT_MAX_MESSAGE_BYTES, UpstreamMessageTooLarge } from "./bounded-body.ts";
import { cancelledIn, requestIdsIn, watchedAnswer } from "./broken-answer.ts";
import { childLog } from "./child-log.ts";
import { asChildUser, type ChildUser } from "./child-users.ts";
import { withLinearReader } from "./stdio-read-buffer.ts";
import { UpstreamAnswerBrokenOff, UpstreamExited, UpstreamSessionLost } from "./upstream-errors.ts";

export interface OpenedTransport {
  transport: Transport;
  /** The child's process id, for a stdio upstream. */
  readonly pid?: number | null;
  /**
   * Why the connection broke by itself, once it has (a message over the bound, a child that exited): what its calls
   * in flight are told, rather than the SDK's "connection closed" or the timeout its closing is reported as.
   */
  failure(): Error | undefined;
}

/** What an HTTP upstream connection needs to present the user and the server's own credentials. */
export interface UpstreamCredentials {
  identity: UpstreamIdentity;
  secrets: SecretsProvider;
  /** The user the connection serves (their groups as of the latest request). */
  user: () => UpstreamUser;
  /** Sends an HTTP upstream's requests (an OAuth-protected one's adds the user's own token); unset: plain fetch. */
  send?: typeof fetch;
  /**
   * A stdio child's environment beyond the minimal one: the server's `env` with its secret references read, then the
   * user's own credentials (`googleCredentials`).
   */
  env?: Record<string, string>;
}

/** Told of each stdio child's start and end (the origin's metrics count them); hosting works the same without one. */
export interface ChildObserver {
  spawned(): void;
  /** `requested`: the origin asked it to stop (an idle host, a closing pool), so no exit status makes it a crash. */
  exited(exit: { code: number | null; signal: NodeJS.Signals | null; requested: boolean }): void;
}

type HttpSpec = Extract<UpstreamServer, { transport: "http" }>;

/**
 * The transport to one user's upstream. A stdio child gets the SDK's minimal safe environment (PATH, HOME, …)
 * plus the server's own `env`: never the origin's secrets; with a `user` (stdio.childUids) it runs as that Unix user,
 * in its home directory, and cannot read the origin's environment either. An HTTP server gets the user's identity in the form
 * it is configured for, on every request, and never the MCP client's token.
 */
export function openTransport(
  spec: UpstreamServer,
  credentials: UpstreamCredentials,
  log: (line: string) => void,
  children?: ChildObserver,
  user?: ChildUser,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): OpenedTransport {
  let failure: Error | undefined;
  const broke = (error: Error, what: string) => {
    if (failure) return;
    failure = error;
    log(what);
  };
  if (spec.transport === "http") {
    const identified = identityFetch(spec, credentials);
    // Requests this connection cancelled, until their streams end: an upstream may end those without an answer.
    const cancelled = new Set<string | number>();
    // Past the bound the connection is closed, as the SDK closes a stdio child's: every call in flight on it is told
    // why, and the next request connects anew. The SDK itself would wait on a broken event stream, not fail the call.
    const fetchAs: typeof fetch = async (input, init) => {
      // Noted before it is sent: the upstream may end the cancelled request's stream before it answers this POST.
      const cancelledId = init?.method === "POST" ? cancelledIn(init.body) : undefined;
      if (cancelledId !== undefined) cancelled.add(cancelledId);
      const response = await identified(input, init);
      // A 404 to a request in a session that says so: the upstream forgot the session (a restart, a deploy, its own
      // expiry). The spec has the client initialize anew; the SDK's client does not, and every later request would
      // get the same 404. So the connection is closed, and the next request opens a new one with a fresh handshake.
      if (response.status === 404 && new Headers(init?.headers).has("mcp-session-id") && (await saysSessionLost(response))) {
        broke(new UpstreamSessionLost(), "the upstream server no longer knows this connection's session; closing it");
        void transport.close().catch(() => {});
      }
      const closeAs = (error: Error) => {
        broke(error, `${error.message}; closing the connection`);
        void transport.close().catch(() => {});
      };
      const bounded = boundedResponse(response, maxMessageBytes, closeAs);
      if (init?.method !== "POST") return bounded;
      return watchedAnswer(bounded, requestIdsIn(init.body), (unanswered) => {
        // A stream the origin itself aborted (the connection closing) broke off for that reason, not the upstream's;
        // a cancelled request is owed no answer (s27 review R2).
        const owed = [...unanswered].filter((id) => !cancelled.delete(id));
        if (owed.length > 0 && !init.signal?.aborted) closeAs(new UpstreamAnswerBrokenOff());
      });
    };
    const url = new URL(spec.url);
    const transport =
      spec.protocol === "sse"
        ? new SSEClientTransport(url, { fetch: fetchAs })
        : new StreamableHTTPClientTransport(url, { fetch: fetchAs });
    return { transport, failure: () => failure };
  }
  const command = user ? asChildUser(user, spec.command, spec.args) : { command: spec.command, args: spec.args };
  const transport = withLinearReader(
    new StdioClientTransport({
      ...command,
      // Its home is also its TMPDIR: /tmp is shared by every user's child.
      env: { ...getDefaultEnvironment(), ...(user && { HOME: user.home, TMPDIR: user.home }), ...credentials.env },
      cwd: spec.cwd,
      stderr: "pipe",
    }),
    maxMessageBytes,
  );
  // Kept by the SDK's Protocol, which calls it before its own. Only the line bound is logged: other errors are each
  // about one message the child wrote, and a child writing bad ones would flood the log.
  transport.onerror = (error) => {
    if (/ReadBuffer exceeded maximum size/.test(error.message)) {
      const tooLarge = new UpstreamMessageTooLarge(maxMessageBytes);
      broke(tooLarge, `${tooLarge.message}; stopping it`);
    }
  };
  const stderr = childLog(log);
  const decoder = new TextDecoder();
  transport.stderr?.on("data", (chunk: Buffer) => stderr.write(decoder.decode(chunk, { stream: true })));
  transport.stderr?.on("end", () => stderr.end());
  watchChild(transport, children, log, (exit) => broke(new UpstreamExited(exit), `its process exited by itself, ${exit}`));
  return {
    transport,
    get pid() {
      return transport.pid;
    },
    failure: () => failure,
  };
}

/**
 * How long after a child exits its pipes may stay open: a process it left behind (a helper it forked, the real server
 * under a wrapper such as `sh -c` or `npx`) still holds them, and the connection counts as closed only once they close.
 */
const PIPES_AFTER_EXIT_MS = 2000;

/**
 * Reports the child's spawn and exit status, which the SDK keeps to itself: its process is read once spawned. And
 * closes its pipes shortly after it exits, so that the connection closes (its Unix user given back, its slot freed)
 * even when a process it left behind holds them.
 * The instance's methods are wrapped, never the class, because the SDK probes an upstream's era on a throwaway
 * sibling only for its own unextended class (the probe's short-lived process is not reported).
 */
function watchChild(
  transport: StdioClientTransport,
  observer: ChildObserver | undefined,
  log: (line: string) => void,
  exitedByItself: (exit: string) => void,
): void {
  const start = transport.start.bind(transport);
  const close = transport.close.bind(transport);
  let requested = false;
  transport.start = async () => {
    await start();
    const child = (transport as unknown as { _process?: ChildProcess })._process;
    if (!child) return log("cannot watch this child's exit (the MCP SDK changed): stdio metrics are incomplete");
    observer?.spawned();
    child.once("exit", (code, signal) => {
      observer?.exited({ code, signal, requested });
      // The SDK says only that the connection closed: why is here.
      if (!requested) exitedByItself(signal ? `on signal ${signal}` : `with code ${code}`);
      const release = setTimeout(() => {
        log("its process exited but something it started still holds its output; closing the pipes");
        for (const pipe of [child.stdin, child.stdout, child.stderr]) pipe?.destroy();
      }, PIPES_AFTER_EXIT_MS);
      release.unref();
      child.once("close", () => clearTimeout(release));
    });
  };
  transport.close = async () => {
    requested = true;
    await close();
  };
}

/** What a 404 that means "session not found" may hold: nothing, or the SDK servers' -32001 error. */
const SESSION_LOST_BODY = /^\s*$|"code"\s*:\s*-32001\b|session not found/i;
const SESSION_LOST_READ_BYTES = 4096;

/**
 * Whether a 404 says the session is gone, read from the start of its body: a 404 is also what a gateway in front of
 * the server answers for one route, and that must not cost every user of the connection their calls in flight.
 */
async function saysSessionLost(response: Response): Promise<boolean> {
  const reader = response.clone().body?.getReader();
  if (!reader) return true;
  let text = "";
  try {
    const decoder = new TextDecoder();
    while (text.length < SESSION_LOST_READ_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
  return SESSION_LOST_BODY.test(text.slice(0, SESSION_LOST_READ_BYTES));
}

/** The statuses with which an upstream refuses a request's credentials. */
const CREDENTIAL_REFUSED = new Set([401, 403]);

/**
 * A fetch that adds the server's configured headers and the user's identity to every request. A refusal makes the
 * provider forget the secrets the headers name: after a leak the old value is revoked at once, and the next request
 * reads the rotated one rather than the cached copy until it ages out (the provider bounds how often).
 */
function identityFetch(spec: HttpSpec, credentials: UpstreamCredentials): typeof fetch {
  const headerSecrets = secretNames(spec.headers);
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    // Read on every request: a rotated credential is used as soon as the provider has it.
    for (const [name, value] of Object.entries(await readValues(spec.headers, credentials.secrets))) headers.set(name, value);
    const user = credentials.user();
    if (spec.identity === "jwt") {
      headers.set("authorization", `Bearer ${await credentials.identity.tokenFor(user, spec.audience ?? spec.url)}`);
    } else if (spec.identity === "headers") {
      headers.set("x-forwarded-user", user.sub);
      if (user.email) headers.set("x-forwarded-email", user.email);
      // Each group percent-encoded: a group named "eng,admins" must not read as two memberships.
      if (user.groups)
        headers.set("x-forwarded-groups", user.groups.map((group) => encodeURIComponent(wellFormed(group))).join(","));
    }
    const response = await (credentials.send ?? fetch)(input, { ...init, headers });
    if (CREDENTIAL_REFUSED.has(response.status)) for (const name of headerSecrets) credentials.secrets.invalidate?.(name);
    return response;
  };
}
