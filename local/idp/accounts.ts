// The people who can sign in to the local OpenID provider that stands in for Google Workspace.
// `sub` is the account id inside the provider; `hd` is Google's "hosted domain" claim, present
// only for accounts of a Workspace domain.

export interface DevAccount {
  sub: string;
  email: string;
  name: string;
  hd?: string;
  groups: string[];
}

export const DEV_ACCOUNTS: readonly DevAccount[] = Object.freeze([
  Object.freeze({ sub: "dev-user-1", email: "dev@example.com", name: "Dev User", hd: "example.com", groups: ["engineering"] }),
  Object.freeze({ sub: "ops-user-1", email: "ops@example.com", name: "Ops User", hd: "example.com", groups: ["ops"] }),
  Object.freeze({ sub: "guest-user-1", email: "guest@other.example", name: "Guest User", groups: [] }),
]);

/** The account with this e-mail (case-insensitive), or undefined. */
export function findAccountByEmail(email: string): DevAccount | undefined {
  const wanted = email.trim().toLowerCase();
  return DEV_ACCOUNTS.find((account) => account.email.toLowerCase() === wanted);
}

export function findAccountBySub(sub: string): DevAccount | undefined {
  return DEV_ACCOUNTS.find((account) => account.sub === sub);
}

/** Every claim the provider knows for this account; oidc-provider keeps only those the granted scopes allow. */
export function accountClaims(account: DevAccount): Record<string, unknown> {
  return {
    sub: account.sub,
    email: account.email,
    email_verified: true,
    name: account.name,
    ...(account.hd === undefined ? {} : { hd: account.hd }),
    groups: [...account.groups],
  };
}
