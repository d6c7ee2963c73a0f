import { describe, expect, it } from "vitest";
import { withExtraEvents } from "../../aws/origin/hosting/listen-notices.ts";

// The origin writes the upstream's elicitation/complete into a listen's SSE response itself (the SDK's listen router
// carries only list changes and resource updates): each as an event of its own, never inside one of the router's.

function sseSource() {
  let source: ReadableStreamDefaultController<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      source = controller;
    },
  });
  const response = new Response(body, { headers: { "content-type": "text/event-stream" } });
  const push = (text: string) => source?.enqueue(new TextEncoder().encode(text));
  return { response, push };
}

describe("a listen's response with extra events", () => {
  it("writes an extra event only between the router's events", async () => {
    const { response, push } = sseSource();
    const extra = withExtraEvents(response);
    const reader = extra.response.body?.pipeThrough(new TextDecoderStream()).getReader();
    push('event: message\ndata: {"a":');
    await reader?.read();
    extra.write({ method: "x" });
    push("1}\n\n");
    let seen = "";
    while (!seen.includes('"method":"x"')) seen += (await reader?.read())?.value ?? "";
    expect(seen).toBe('1}\n\nevent: message\ndata: {"method":"x"}\n\n');
  });

  it("drops an extra event for a listen its client has left, without throwing", async () => {
    const { response } = sseSource();
    const extra = withExtraEvents(response);
    await extra.response.body?.cancel();
    expect(() => extra.write({ method: "x" })).not.toThrow();
  });
});
