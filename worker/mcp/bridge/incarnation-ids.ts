import type { JSONRPCMessage, Transport } from "@modelcontextprotocol/server";

type Id = string | number;

/**
 * Makes the ids of the requests a session sends its client (sampling, elicitation, an approval prompt) unique to this
 * incarnation of the session object. The SDK numbers them from 0 whenever a server starts, and a session object starts
 * its server anew after a restart or eviction: a client's late answer to a prompt of the previous incarnation would be
 * taken for the answer to the new prompt with the same number (an approval given for another call). Request ids leave
 * with a prefix of this incarnation's own; an answer that carries it reaches the server with the id it sent, and an
 * answer without it (to an earlier incarnation) is dropped.
 *
 * The transport is patched in place, before the server connects to it (the session object keeps using it directly).
 */
export function withIncarnationIds<T extends Transport>(transport: T, prefix = `${crypto.randomUUID()}:`): T {
  const send = transport.send.bind(transport);
  transport.send = (message, options) => send(withPrefix(message, prefix), options);
  let deliver: Transport["onmessage"];
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => deliver,
    set: (handler: Transport["onmessage"]) => {
      deliver =
        handler &&
        ((message, extra) => {
          const own = isResponse(message) ? ownAnswer(message, prefix) : message;
          if (own) handler(own, extra);
        });
    },
  });
  return transport;
}

/** A request to the client with the prefix on its id; a cancellation of one with the prefix on the id it cancels. */
function withPrefix(message: JSONRPCMessage, prefix: string): JSONRPCMessage {
  if (isRequest(message)) return { ...message, id: `${prefix}${message.id}` };
  const cancelled = message as { method?: string; params?: { requestId?: unknown } };
  if (cancelled.method !== "notifications/cancelled" || cancelled.params?.requestId === undefined) return message;
  return { ...message, params: { ...cancelled.params, requestId: `${prefix}${cancelled.params.requestId}` } } as JSONRPCMessage;
}

const isRequest = (message: JSONRPCMessage): message is JSONRPCMessage & { id: Id; method: string } =>
  "method" in message && "id" in message && message.id !== undefined;

const isResponse = (message: JSONRPCMessage): message is JSONRPCMessage & { id: Id } => !("method" in message) && "id" in message;

/** The answer as the server sent its request (the prefix taken off the id), or undefined for another incarnation's. */
function ownAnswer(message: JSONRPCMessage & { id: Id }, prefix: string): JSONRPCMessage | undefined {
  if (typeof message.id !== "string" || !message.id.startsWith(prefix)) return undefined;
  const sent = message.id.slice(prefix.length);
  return { ...message, id: /^\d+$/.test(sent) ? Number(sent) : sent } as JSONRPCMessage;
}
