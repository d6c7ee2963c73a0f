/** The scope of the administrator features; granted only to members of `adminGroups`. */
export const ADMIN_SCOPE = "mcp:admin";

/** Whether these groups make their member an administrator (EdgeConfig `adminGroups`, compared without regard to case). */
export function isAdmin(adminGroups: readonly string[], groups: readonly string[]): boolean {
  const admins = new Set(adminGroups.map((group) => group.toLowerCase()));
  return groups.some((group) => admins.has(group.toLowerCase()));
}

/** The scopes without `mcp:admin` unless the groups allow it (RFC 6749 §3.3: granted silently less than asked). */
export function withAdminScopeChecked(
  adminGroups: readonly string[],
  scopes: readonly string[],
  groups: readonly string[],
): string[] {
  return isAdmin(adminGroups, groups) ? [...scopes] : scopes.filter((scope) => scope !== ADMIN_SCOPE);
}
