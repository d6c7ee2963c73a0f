import { CLIENT_CAPABILITIES_META_KEY, type ServerContext } from "@modelcontextprotocol/server";

type Params = Record<string, unknown>;

/** Methods whose 2026-07-28 result may be input_required: any other can only fail with what it needs. */
export const INPUT_REQUIRED_METHODS: ReadonlySet<string> = new Set(["tools/call", "prompts/get", "resources/read"]);

/** What the calling client declared, from the request's 2026-07-28 envelope (the edge states a session client's). */
export const callerCapabilities = (ctx: ServerContext): Params | undefined =>
  (ctx.mcpReq.envelope as Params | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as Params | undefined;

/** Whether the calling client shows a link to open (URL-mode elicitation). */
export const takesUrlElicitation = (ctx: ServerContext): boolean =>
  (callerCapabilities(ctx)?.elicitation as { url?: unknown } | undefined)?.url !== undefined;
