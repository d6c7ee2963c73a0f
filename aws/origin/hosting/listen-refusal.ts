/**
 * A `subscriptions/listen` refused before it starts (past the user's share, naming too many resources, watching too
 * much), answered under the listen's own id when it has a valid one (JSON-RPC's null otherwise). A 4xx status lets
 * /mcp's merged listen report the server left out, and why.
 */
export function refusedListen(message: unknown, code: number, refusal: string, status: 200 | 400 | 429): Response {
  const id = (message as { id?: unknown } | null | undefined)?.id;
  const answerId = typeof id === "string" || typeof id === "number" ? id : null;
  return Response.json({ jsonrpc: "2.0", id: answerId, error: { code, message: refusal } }, { status });
}
