/**
 * The text with each lone UTF-16 surrogate replaced by U+FFFD, as `String.prototype.toWellFormed` does (ES2024, beyond
 * the library level the project compiles against). Text that will be stored as UTF-8 (PostgreSQL), encoded into a URL
 * or hashed before it is stored must be well formed: UTF-8 cannot hold a lone surrogate, so what is stored would
 * differ from what was hashed or sent.
 */
export const wellFormed = (text: string): string => text.replace(/\p{Cs}/gu, "\uFFFD");
