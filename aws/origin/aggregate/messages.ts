/** JSON-RPC shapes as the aggregated endpoint handles them: parsed, not validated (each upstream's endpoint validates). */
export type Params = Record<string, unknown>;
export type RequestId = string | number;

export interface RpcRequest {
  jsonrpc: "2.0";
  id: RequestId;
  method: string;
  params: Params;
}

export interface RpcAnswer {
  id?: RequestId | null;
  result?: Params;
  error?: { code: number; message: string; data?: unknown };
}

/** A JSON-RPC request (not a notification) with an object for params, or undefined. */
export function asRequest(body: unknown): RpcRequest | undefined {
  const message = body as Partial<RpcRequest> | null;
  if (typeof message !== "object" || message === null || typeof message.method !== "string") return undefined;
  if (typeof message.id !== "string" && typeof message.id !== "number") return undefined;
  const params = typeof message.params === "object" && message.params !== null ? message.params : {};
  return { jsonrpc: "2.0", id: message.id, method: message.method, params };
}

/** An answer the aggregated endpoint gives itself. */
export function errorAnswer(status: number, id: RequestId | null, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", id, error: { code, message } }, { status });
}

/** A result the aggregated endpoint composed itself: complete (2026-07-28 results say so) and never shared. */
export const resultAnswer = (id: RequestId, result: Params): Response =>
  Response.json({ jsonrpc: "2.0", id, result: { resultType: "complete", cacheScope: "private", ttlMs: 0, ...result } });

/** The final answer in a response, whether it came as one JSON body or as an SSE stream. */
export async function readAnswer(response: Response): Promise<RpcAnswer> {
  const text = await response.text();
  if (!response.headers.get("content-type")?.includes("text/event-stream")) return JSON.parse(text) as RpcAnswer;
  const messages = text
    .split("\n")
    .filter((line) => line.startsWith("data:") && line.slice(5).trim())
    .map((line) => JSON.parse(line.slice(5)) as RpcAnswer);
  const answer = messages.find((message) => message.result !== undefined || message.error !== undefined);
  if (!answer) throw new Error("the stream ended without an answer");
  return answer;
}
