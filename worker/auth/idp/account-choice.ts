/**
 * Whether the identity provider is asked to let the person choose the account (Google's `prompt=select_account`).
 * Without it Google signs in with the browser's one session, or its default one, without asking: someone signed in
 * with the wrong account, or at a borrowed browser, could never use another (s24 hunt pages F2).
 */

/** The consent form's checkbox. */
export const CHOOSE_ACCOUNT_FIELD = "choose_account";

/**
 * A client's own `prompt` (OpenID Connect Core §3.1.2.1) that asks for a sign-in or an account choice ticks the box.
 * Google offers no `prompt=login`; choosing the account is the nearest it has, and lets the person sign in anew.
 */
export function clientAskedForAccountChoice(prompt: string | null): boolean {
  const values = (prompt ?? "").split(" ");
  return values.includes("login") || values.includes("select_account");
}

/** The IdP's parameter for a ticked box. */
export const ACCOUNT_CHOICE_PROMPT = "select_account";
