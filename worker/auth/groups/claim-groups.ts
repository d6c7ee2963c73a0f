/**
 * The groups an id_token lists under `claim` (EdgeConfig `idp.groupsClaim`): its string entries, or none when the
 * claim is absent or not an array. A provider that sends one group as a plain string gets it read as one group.
 */
export function groupsFromClaim(payload: Record<string, unknown>, claim: string): string[] {
  const value = payload[claim];
  if (typeof value === "string" && value !== "") return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((group): group is string => typeof group === "string" && group !== "");
}
