import { type ParseError, parse, visit } from "jsonc-parser";
import { ConfigError, jsonSyntaxProblem } from "../../contract/config/load.ts";

/*
 * Reading the origin's configuration file as JSON, beyond what JSON.parse says: where it stops being JSON, by line
 * and never by quoting it (JSON.parse's message quotes the text around, and the file holds servers' settings), and
 * which keys it writes twice.
 */

/** The line where `text` stops being JSON (1-based), or undefined when it is JSON. */
export function syntaxErrorLine(text: string): number | undefined {
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  return first && text.slice(0, first.offset).split("\n").length;
}

/**
 * Keys that appear twice in one object of a JSON document, each by its path and the lines it is on. JSON.parse keeps
 * the last silently: a second `"origin"` section or a second server of the same name would replace the first without
 * a word.
 */
export function duplicateKeys(text: string): { path: string; lines: number[] }[] {
  // One entry per object being read: its path, and the lines each of its keys was seen on.
  const open: { path: string; keys: Map<string, number[]> }[] = [];
  const found: { path: string; lines: number[] }[] = [];
  visit(text, {
    onObjectBegin: (_offset, _length, _line, _character, pathSupplier) => {
      open.push({ path: pathSupplier().join("."), keys: new Map() });
    },
    onObjectProperty: (property, _offset, _length, line) => {
      const keys = open.at(-1)?.keys;
      keys?.set(property, [...(keys.get(property) ?? []), line + 1]);
    },
    onObjectEnd: () => {
      const object = open.pop();
      for (const [key, lines] of object?.keys ?? []) {
        if (lines.length > 1) found.push({ path: object?.path ? `${object.path}.${key}` : key, lines });
      }
    },
  });
  return found;
}

/**
 * A configuration file's text as a document, for the origin's file and the deploy file alike: a leading byte-order mark
 * (editors on Windows write one) is dropped; text that is not JSON is refused by its line; a key written twice is
 * refused with its lines. Each refusal is a ConfigError naming `where`.
 */
export function parseConfigDocument(text: string, where: string): unknown {
  const json = text.replace(/^\uFEFF/, "");
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    const line = syntaxErrorLine(json);
    throw new ConfigError([`${where}: ${line ? `not valid JSON at line ${line}` : jsonSyntaxProblem(error)}`]);
  }
  const twice = duplicateKeys(json);
  if (twice.length > 0)
    throw new ConfigError(
      twice.map(({ path, lines }) => `${where}: "${path}" is there ${lines.length} times (lines ${lines.join(", ")}); keep one`),
    );
  return document;
}
