/** The parts of a V8 CPU profile (`Profiler.stop`, or `node --cpu-prof`) the summary reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Time per function over the busy samples (idle excluded): inclusive (with what it calls) and self, top `count` each. */
export function summarize(profile: CpuProfile, count: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const label = (id: number) => {
    const frame = byId.get(id)?.callFrame;
    const file = frame?.url.split(/node_modules\/|\/main\//).at(-1) ?? "";
    return `${frame?.functionName || "(anonymous)"} ${file}`.trim();
  };
  const inclusive = new Map<string, number>();
  const self = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    if (byId.get(id)?.callFrame.functionName === "(idle)") return;
    busy += delta;
    self.set(label(id), (self.get(label(id)) ?? 0) + delta);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) seen.add(label(at));
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + delta);
  });
  const table = (title: string, times: Map<string, number>) =>
    [
      title,
      ...[...times]
        .sort((a, b) => b[1] - a[1])
        .slice(0, count)
        .map(
          ([name, micros]) =>
            `${(micros / 1000).toFixed(1).padStart(9)} ms ${((100 * micros) / busy).toFixed(1).padStart(5)}%  ${name}`,
        ),
    ].join("\n");
  return [`busy ${(busy / 1000).toFixed(0)} ms`, table("inclusive:", inclusive), table("self:", self)].join("\n");
}
