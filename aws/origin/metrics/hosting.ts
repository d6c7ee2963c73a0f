import { Counter, Gauge, type Registry } from "prom-client";
import type { CircuitObserver } from "../hosting/circuit-breaker.ts";
import type { PoolRefusal } from "../hosting/host-pool.ts";
import type { ChildObserver } from "../hosting/upstream-transport.ts";
import { perServer } from "./http.ts";

/** Live stdio children, spawns, exits and crashes per server: an observer for each server's children. */
export function stdioMetrics(registry: Registry, servers: readonly string[]): (server: string) => ChildObserver {
  const server = ["server"] as const;
  const live = new Gauge({
    name: "mcp_origin_stdio_children",
    help: "Stdio upstream processes running now, by server.",
    labelNames: server,
    registers: [registry],
  });
  const spawns = new Counter({
    name: "mcp_origin_stdio_spawns_total",
    help: "Stdio upstream processes started, by server.",
    labelNames: server,
    registers: [registry],
  });
  const exits = new Counter({
    name: "mcp_origin_stdio_exits_total",
    help: "Stdio upstream processes that ended, for any reason, by server.",
    labelNames: server,
    registers: [registry],
  });
  const crashes = new Counter({
    name: "mcp_origin_stdio_crashes_total",
    help: "Stdio upstream processes that ended unasked with a non-zero code or by a signal, by server.",
    labelNames: server,
    registers: [registry],
  });

  return perServer<ChildObserver>(servers, (name) => {
    const running = live.labels(name);
    const spawned = spawns.labels(name);
    const exited = exits.labels(name);
    const crashed = crashes.labels(name);
    // Every series exists from the start: a first crash is then an increase from 0, which rate() sees.
    for (const series of [running, spawned, exited, crashed]) series.inc(0);
    return {
      spawned() {
        spawned.inc();
        running.inc();
      },
      exited({ code, signal, requested }) {
        exited.inc();
        running.dec();
        if (!requested && (code !== 0 || signal !== null)) crashed.inc();
      },
    };
  });
}

/** Upstream circuits that opened, and the requests they refused at once, per server (aws/origin/hosting/circuit-breaker.ts). */
export function circuitMetrics(registry: Registry, servers: readonly string[]): (server: string) => CircuitObserver {
  const server = ["server"] as const;
  const opens = new Counter({
    name: "mcp_origin_upstream_circuit_opens_total",
    help: "Times an upstream connection failed relay.breakerFailures times in a row and its circuit opened, by server.",
    labelNames: server,
    registers: [registry],
  });
  const refusals = new Counter({
    name: "mcp_origin_upstream_circuit_refusals_total",
    help: "Requests refused at once (503) because their upstream connection's circuit was open, by server.",
    labelNames: server,
    registers: [registry],
  });
  return perServer<CircuitObserver>(servers, (name) => {
    const opened = opens.labels(name);
    const refused = refusals.labels(name);
    for (const series of [opened, refused]) series.inc(0);
    return { opened: () => opened.inc(), refused: () => refused.inc() };
  });
}

/** New upstream connections refused because stdio.maxProcesses was taken, per server and reason. */
export function poolRefusalMetrics(
  registry: Registry,
  servers: readonly string[],
): (server: string, reason: PoolRefusal) => void {
  const refusals = new Counter({
    name: "mcp_origin_upstream_pool_refusals_total",
    help: "Requests refused (503) because no upstream connection could be started: full (stdio.maxProcesses, every connection busy) or user_share (the user held their share of a nearly full pool), by server.",
    labelNames: ["server", "reason"] as const,
    registers: [registry],
  });
  const reasons: PoolRefusal[] = ["full", "user_share"];
  const of = perServer(servers, (name) => {
    const series = Object.fromEntries(reasons.map((reason) => [reason, refusals.labels(name, reason)])) as Record<
      PoolRefusal,
      Counter.Internal
    >;
    for (const each of Object.values(series)) each.inc(0);
    return series;
  });
  return (server, reason) => of(server)[reason].inc();
}
