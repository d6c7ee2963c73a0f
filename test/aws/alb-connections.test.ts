import { Agent, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALB_IDLE_TIMEOUT } from "../../aws/cdk/service/load-balancer.ts";
import {
  ORIGIN_KEEP_ALIVE_MS,
  ORIGIN_SHUTDOWN_GRACE_MS,
  type RunningOrigin,
  startOrigin,
} from "../../aws/origin/start-origin.ts";
import { type TestDatabase, withTestDatabase } from "../origin/database.ts";
import { testOriginConfig } from "../origin/origin-under-test.ts";
import { resourcesOf, synthesizeExample } from "./synth.ts";

// The ALB reuses idle connections to its targets. A target that closes one first races the ALB's next request down
// it, and the ALB answers that request 502, which the edge reads as a lost instance (moving the user off theirs).
// So the origin keeps idle connections longer than the ALB does, and the ALB always closes first.

describe("connections between the ALB and the origin", () => {
  it("are kept by the origin longer than by the ALB, as the stack sets it", () => {
    const { serviceTemplate } = synthesizeExample(() => {});
    const [[, alb] = []] = resourcesOf(serviceTemplate, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    const attributes = (alb?.LoadBalancerAttributes ?? []) as { Key: string; Value: string }[];
    const idleSeconds = Number(attributes.find((attribute) => attribute.Key === "idle_timeout.timeout_seconds")?.Value);
    expect(idleSeconds).toBe(ALB_IDLE_TIMEOUT.toSeconds());
    expect(ORIGIN_KEEP_ALIVE_MS).toBeGreaterThan(idleSeconds * 1000);
  });

  it("lets requests in flight finish after SIGTERM for less than ECS waits before it kills the task", () => {
    const { serviceTemplate } = synthesizeExample(() => {});
    const containers = resourcesOf(serviceTemplate, "AWS::ECS::TaskDefinition").flatMap(
      ([, task]) => task.ContainerDefinitions as { Name: string; StopTimeout?: number }[],
    );
    const origin = containers.find((container) => container.Name === "origin");
    expect(origin?.StopTimeout).toBeGreaterThan(ORIGIN_SHUTDOWN_GRACE_MS / 1000);
  });

  describe("on a running origin", () => {
    let database: TestDatabase;
    let origin: RunningOrigin;
    beforeAll(async () => {
      database = await withTestDatabase();
      origin = await startOrigin(await testOriginConfig(database), () => {});
    });
    afterAll(async () => {
      await origin?.close();
      await database?.close();
    });

    it("stay open past Node's default of 5 s: a request after 6 s idle goes down the same connection", async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const get = () =>
          new Promise<{ reused: boolean; status?: number }>((resolve, reject) => {
            const sent = request(`${origin.url}/healthz`, { agent }, (answer) => {
              answer.resume();
              answer.on("end", () => resolve({ reused: sent.reusedSocket, status: answer.statusCode }));
            });
            sent.on("error", reject);
            sent.end();
          });
        expect(await get()).toEqual({ reused: false, status: 200 });
        await new Promise((resolve) => setTimeout(resolve, 6000));
        expect(await get()).toEqual({ reused: true, status: 200 });
      } finally {
        agent.destroy();
      }
    }, 20_000);
  });
});
