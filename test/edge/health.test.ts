import { describe, expect, it } from "vitest";
import { callEdge } from "./edge-env.ts";

describe("health probes", () => {
  it("/healthz answers while the Worker runs", async () => {
    const response = await callEdge("/healthz");
    expect(response.status).toBe(200);
  });

  it("/readyz says the origin is unreachable when it is", async () => {
    const response = await callEdge("/readyz", undefined, { ORIGIN_URL: "http://127.0.0.1:9" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      status: "not ready",
      config: "ok",
      origin: expect.stringMatching(/^unreachable/),
    });
  });

  it("/readyz says the configuration is invalid without showing any value", async () => {
    const response = await callEdge("/readyz", undefined, { PUBLIC_URL: "not a url" });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(body).toContain("invalid");
    expect(body).not.toContain("not a url");
  });
});
