import { DurableObject } from "cloudflare:workers";
import type { EdgeEnv } from "../worker/env.ts";

/**
 * One legacy (2025-era) MCP client session, keyed by its `Mcp-Session-Id`. It terminates the client's session
 * and speaks stateless 2026-07-28 MCP to the origin; see docs/era-mapping.md.
 */
export class McpSession extends DurableObject<EdgeEnv> {}
