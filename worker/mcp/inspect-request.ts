/** What the edge reads from a client's JSON-RPC message to route and audit it. It never alters the message. */
export interface RequestFacts {
  /** `batch` for a JSON array (2025-03-26 clients may batch); absent when the body is not JSON-RPC. */
  method?: string;
  /** The message's id: a request's, or a response's (`isResponse`: the client answering; nothing to wait for). */
  id?: string | number;
  /** `params.name` of a tools/call. */
  tool?: string;
  /** `params.name` of a prompts/get: on the aggregated endpoint it names the server, as a tool's name does. */
  prompt?: string;
  /** `params.uri` of a resources/read, resources/subscribe or resources/unsubscribe: the resource used. */
  uri?: string;
  /** `params.arguments` of a tools/call or prompts/get, for the audit (redacted before it is queued). */
  arguments?: Record<string, unknown>;
  protocolVersion?: string;
  /** The message claims a 2026-07-28+ version in its `_meta` envelope: relayed to the origin as it is. */
  modern?: boolean;
  /** A JSON-RPC response (a client answering a server-to-client request). */
  isResponse?: boolean;
  /** For a batch (a JSON array): what each of its messages is, so each is audited and checked on its own. */
  batch?: RequestFacts[];
  /** The body nests arrays and objects deeper than `MAX_NESTING_DEPTH`: refused before it goes anywhere. */
  tooDeep?: boolean;
}

/**
 * The deepest a request's JSON may nest its arrays and objects. Past a few thousand levels, code that walks a value
 * recursively (re-serializing it to send on, validating it) overflows its stack; real tool arguments nest a few
 * levels, and the audit keeps 64.
 */
export const MAX_NESTING_DEPTH = 256;

const MODERN_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
/**
 * A session's request without `MCP-Protocol-Version` comes from a 2025-03-26 client: every later revision requires
 * the header, and the specification tells servers to assume this version when it is missing.
 */
const VERSION_OF_SESSION_WITHOUT_HEADER = "2025-03-26";

/** The protocol version a request's headers state (a session's request without the header: 2025-03-26). */
export const headerVersionOf = (headers: Headers): string | undefined =>
  headers.get("mcp-protocol-version") ?? (headers.has("mcp-session-id") ? VERSION_OF_SESSION_WITHOUT_HEADER : undefined);

/** What a GET or DELETE means on a legacy MCP endpoint, for the audit trail. */
const METHOD_OF_HTTP_VERB: Record<string, string> = { GET: "stream/open", DELETE: "session/delete" };

/**
 * What a request asks: its body's messages, or for a GET or DELETE what the verb means; for a body too large to read
 * (`null`), what its headers state: the version, and the method a 2026-07-28 client names in `Mcp-Method`.
 */
export function requestFacts(request: Request, body: string | undefined | null): RequestFacts {
  if (body === null) {
    const method = request.headers.get("mcp-method") ?? undefined;
    return { ...(method && { method }), protocolVersion: headerVersionOf(request.headers) };
  }
  if (body !== undefined) return inspectRequest(body, request.headers);
  return { method: METHOD_OF_HTTP_VERB[request.method], protocolVersion: headerVersionOf(request.headers) };
}

export function inspectRequest(body: string, headers: Headers): RequestFacts {
  const headerVersion = headerVersionOf(headers);
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return { protocolVersion: headerVersion };
  }
  const tooDeep = nestsDeeperThan(body, MAX_NESTING_DEPTH) ? { tooDeep: true } : {};
  if (Array.isArray(message)) {
    const batch = message.map((element) => factsOf(element, headerVersion));
    return { method: "batch", protocolVersion: headerVersion, batch, ...tooDeep };
  }
  return { ...factsOf(message, headerVersion), ...tooDeep };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENS = new Set([0x5b, 0x7b]); // [ {
const CLOSES = new Set([0x5d, 0x7d]); // ] }

/**
 * Whether JSON text (already parsed: it is well-formed) nests deeper than `limit`. One pass over the text, no
 * recursion (the depth is a counter), and a string is skipped in one `indexOf` per quote, so long arguments cost
 * little: about a millisecond per megabyte of brackets, a few microseconds for an ordinary request.
 */
export function nestsDeeperThan(json: string, limit: number): boolean {
  let depth = 0;
  for (let at = 0; at < json.length; at++) {
    const code = json.charCodeAt(at);
    if (code === QUOTE) {
      at = closingQuote(json, at);
      if (at === -1) return false;
    } else if (OPENS.has(code)) {
      if (++depth > limit) return true;
    } else if (CLOSES.has(code)) depth--;
  }
  return false;
}

/** Where the string opened at `open` ends: the next quote not escaped by an odd run of backslashes (-1: none). */
function closingQuote(json: string, open: number): number {
  let quote = json.indexOf('"', open + 1);
  while (quote !== -1 && escapedAt(json, quote)) quote = json.indexOf('"', quote + 1);
  return quote;
}

function escapedAt(json: string, at: number): boolean {
  let backslashes = 0;
  while (json.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
  return backslashes % 2 === 1;
}

function factsOf(message: unknown, headerVersion: string | undefined): RequestFacts {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return { protocolVersion: headerVersion };

  const { method, id, params } = message as { method?: unknown; id?: unknown; params?: Record<string, unknown> };
  const meta = params?._meta as Record<string, unknown> | undefined;
  const modern = typeof meta?.[MODERN_VERSION_KEY] === "string";
  const initializeVersion = method === "initialize" ? params?.protocolVersion : undefined;
  return {
    method: typeof method === "string" ? method : undefined,
    id: typeof id === "string" || typeof id === "number" ? id : undefined,
    tool: method === "tools/call" && typeof params?.name === "string" ? params.name : undefined,
    prompt: method === "prompts/get" && typeof params?.name === "string" ? params.name : undefined,
    uri: URI_METHODS.has(method) && typeof params?.uri === "string" ? params.uri : undefined,
    arguments: ARGUMENT_METHODS.has(method) && isPlainObject(params?.arguments) ? params.arguments : undefined,
    protocolVersion: stringOrUndefined(meta?.[MODERN_VERSION_KEY]) ?? stringOrUndefined(initializeVersion) ?? headerVersion,
    modern,
    isResponse: method === undefined && ("result" in message || "error" in message),
  };
}

const stringOrUndefined = (value: unknown) => (typeof value === "string" ? value : undefined);

/** The methods whose `params.uri` names the resource the audit records. */
const URI_METHODS = new Set<unknown>(["resources/read", "resources/subscribe", "resources/unsubscribe"]);

/** The methods whose `params.arguments` the audit records. */
const ARGUMENT_METHODS = new Set<unknown>(["tools/call", "prompts/get"]);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
