/**
 * The domain of an e-mail address, lower case: what follows its last `@`. The local part may itself hold an `@`
 * when quoted (`"x@corp.example"@other.example` is a mailbox at other.example), so the first `@` proves nothing.
 * Undefined when there is no address or no domain.
 */
export function domainOfEmail(email: string | undefined): string | undefined {
  const at = email?.lastIndexOf("@") ?? -1;
  const domain = email?.slice(at + 1).toLowerCase();
  return at < 0 || !domain ? undefined : domain;
}
