import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { nameMatcher } from "../../../contract/name-glob.ts";

const matchers = new WeakMap<EdgeConfig, (group: string) => boolean>();

/**
 * The groups the edge keeps of those the identity provider or the Directory lists (`groups.include`, compared
 * without case as the policy compares groups; `adminGroups` always kept). The others are dropped where the groups are
 * read, so no grant, assertion, audit event or upstream identity token carries them.
 */
export function keptGroups(config: EdgeConfig, groups: readonly string[]): string[] {
  if (config.groups.include.length === 0) return [...groups];
  let kept = matchers.get(config);
  if (!kept) {
    const included = nameMatcher(config.groups.include.map((pattern) => pattern.toLowerCase()));
    const admin = new Set(config.adminGroups.map((group) => group.toLowerCase()));
    kept = (group) => admin.has(group.toLowerCase()) || included(group.toLowerCase());
    matchers.set(config, kept);
  }
  return groups.filter(kept);
}
