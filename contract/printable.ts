/**
 * Characters that show as nothing, or as something else: control characters (C0 and C1: an escape sequence or a
 * carriage return in an upstream's name rewrites the administrator's terminal line it is printed on), format
 * characters (zero-width spaces and joiners, bidi controls, Unicode tag characters that can carry a whole hidden
 * instruction), private-use and unassigned ones, every default-ignorable one (variation selectors, Hangul fillers, the
 * combining grapheme joiner), and the line separators.
 */
const UNSEEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu;
const escaped = (character: string) => `\\u{${(character.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`;

/**
 * Text an upstream supplied (a name, a description) as a terminal, a log or a reviewer may be shown it: each of those
 * characters as `\u{…}`, so that what is shown is what the upstream sent.
 */
export const printable = (text: string): string => text.replace(UNSEEN, escaped);
