import { isDeepStrictEqual } from "node:util";
import {
  applyEdits,
  createScanner,
  type FormattingOptions,
  findNodeAtLocation,
  format,
  getNodeValue,
  type JSONPath,
  modify,
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
  type SyntaxKind,
} from "jsonc-parser";

// jsonc-parser's SyntaxKind is a const enum, which type stripping cannot inline: its two values used here.
const COMMA: SyntaxKind = 5;
const EOF: SyntaxKind = 17;

/**
 * Keys to set under one object of a JSONC document. An owned key is this command's own (the
 * server entry): it is overwritten on write and deleted on remove. A shared key (a proxy variable
 * in a client's settings) may be the user's: it is only added when missing, and only deleted when it
 * still holds the value this command would write.
 */
export interface KeyedEdit {
  readonly parent: readonly string[];
  readonly values: Readonly<Record<string, unknown>>;
  readonly owned: boolean;
}

export type Mode = "write" | "remove";

export class MalformedConfig extends Error {}

export interface EditOutcome {
  readonly text: string;
  /** What the user should know: keys left alone and why, entries replaced. */
  readonly notes: readonly string[];
}

export function applyKeyedEdit(
  original: string,
  edit: KeyedEdit,
  mode: Mode,
  options: { readonly keepEmptiedParent?: boolean } = {},
): EditOutcome {
  let text = original.trim() === "" ? "{}\n" : original;
  const root = parseObject(text);
  const parentNode = edit.parent.length === 0 ? root : findNodeAtLocation(root, [...edit.parent]);
  if (parentNode && parentNode.type !== "object") {
    throw new MalformedConfig(`"${edit.parent.join(".")}" is ${describe(parentNode)}, not an object of entries`);
  }
  const current = (key: string): unknown => {
    const node = parentNode && findNodeAtLocation(parentNode, [key]);
    return node ? getNodeValue(node) : undefined;
  };
  // Shared keys go together (HTTPS_PROXY with its NO_PROXY): beside the user's own proxy, ours would mix two setups.
  // Removed too only as a whole: their NO_PROXY beside a HTTPS_PROXY equal to ours makes both theirs.
  const theirs = !edit.owned ? keysSetOtherwise(edit.values, current) : [];
  if (theirs.length > 0) {
    const others = Object.keys(edit.values).filter(
      (key) => !theirs.includes(key) && (mode === "write" || current(key) !== undefined),
    );
    const why = mode === "write" ? "already set to another value" : "not the value this command writes";
    const alsoKept =
      others.length > 0 ? `; ${others.join(", ")} not ${mode === "write" ? "written" : "removed"} either: they go together` : "";
    return { text: original, notes: [`kept ${theirs.join(", ")}: ${why}${alsoKept}`] };
  }
  const notes: string[] = [];
  const style = styleOf(text);
  let removed = false;
  for (const [key, value] of Object.entries(edit.values)) {
    const now = current(key);
    if (mode === "write") {
      if (sameValue(now, value)) continue;
      if (now !== undefined) notes.push(`replaced the entry "${key}" that was there (see the backup)`);
      text = setValue(text, [...edit.parent, key], value, style);
    } else {
      if (now === undefined) continue;
      text = setValue(text, [...edit.parent, key], undefined, style);
      removed = true;
    }
  }
  // An object emptied by the removal goes too, so that write then remove gives back the file it found; unless the
  // object was there before the write (the caller knows from the backups), then it stays, empty, as it was.
  if (removed && edit.parent.length > 0 && !options.keepEmptiedParent) {
    const emptied = findNodeAtLocation(parseObject(text), [...edit.parent]);
    if (emptied?.type === "object" && (emptied.children ?? []).length === 0) {
      text = setValue(text, [...edit.parent], undefined, style);
    }
  }
  // A document this command starts ends its last line, as editors save files.
  if (original.trim() === "" && !text.endsWith("\n")) text += style.options.eol ?? "\n";
  return { text, notes };
}

/** The keys the document already holds with a value other than the one wanted. */
function keysSetOtherwise(values: Readonly<Record<string, unknown>>, current: (key: string) => unknown): string[] {
  return Object.entries(values)
    .filter(([key, value]) => current(key) !== undefined && !sameValue(current(key), value))
    .map(([key]) => key);
}

/**
 * Whether a value read from the file is the one this command would write. jsonc-parser builds objects
 * without a prototype, which isDeepStrictEqual tells apart from the plain ones built here; going through
 * JSON gives both the same (and key order still does not count).
 */
function sameValue(inFile: unknown, wanted: unknown): boolean {
  if (inFile === undefined) return wanted === undefined;
  return isDeepStrictEqual(JSON.parse(JSON.stringify(inFile)), wanted);
}

/** Whether a document is an empty object and nothing else: no member, no comment. */
export function isBareEmptyObject(text: string): boolean {
  return /^\s*\{\s*\}\s*$/.test(text);
}

/** Whether a document holds one of the edit's keys; false for one that does not parse (it cannot tell). */
export function holdsAnyKey(text: string, edit: KeyedEdit): boolean {
  const root = parsedOrUndefined(text);
  return root !== undefined && Object.keys(edit.values).some((key) => findNodeAtLocation(root, [...edit.parent, key]));
}

/** Whether a document holds the edit's object without any of its keys (as the user had it before a write). */
export function holdsParentWithoutKeys(text: string, edit: KeyedEdit): boolean {
  const root = parsedOrUndefined(text);
  if (root === undefined || edit.parent.length === 0 || holdsAnyKey(text, edit)) return false;
  return findNodeAtLocation(root, [...edit.parent])?.type === "object";
}

function parsedOrUndefined(text: string): Node | undefined {
  try {
    return parseObject(text);
  } catch (error) {
    if (error instanceof MalformedConfig) return undefined;
    throw error;
  }
}

function parseObject(text: string): Node {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const { line, column } = position(text, first.offset);
    throw new MalformedConfig(
      `not valid JSON (with comments): ${printParseErrorCode(first.error)} at line ${line}, column ${column}`,
    );
  }
  if (root?.type !== "object") {
    throw new MalformedConfig(`the top level is ${root ? describe(root) : "empty"}, not an object`);
  }
  return root;
}

function describe(node: Node): string {
  return node.type === "array" || node.type === "object" ? `an ${node.type}` : `a ${node.type}`;
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split(/\r\n|\r|\n/);
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

interface Style {
  readonly options: FormattingOptions;
}

// Follow the file's own indentation and line ends, so an inserted entry looks like its neighbours.
function styleOf(text: string): Style {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  // The first indented line is a member of the top-level object: its indent is one level.
  const first = /^([ \t]+)\S/m.exec(text)?.[1];
  if (first?.startsWith("\t")) return { options: { insertSpaces: false, tabSize: 1, eol } };
  return { options: { insertSpaces: true, tabSize: first ? first.length : 2, eol } };
}

/**
 * Set (or, with undefined, delete) one value. jsonc-parser's own formatting would reflow the whole
 * line around the change, neighbours included; here only the inserted text is formatted, so every
 * other byte (comments, trailing commas, the user's layout) stays where it was.
 */
function setValue(text: string, path: JSONPath, value: unknown, style: Style): string {
  const root = parseObject(text);
  if ((root.children ?? []).length === 0) {
    // Nothing to preserve in an empty object: lay the new document out whole.
    return applyEdits(text, modify(text, path, value, { formattingOptions: style.options }));
  }
  const property = value === undefined ? findNodeAtLocation(root, path)?.parent : undefined;
  const object = property?.parent;
  if (object && object.children?.length === 1) {
    // The only member goes with everything between the braces: jsonc-parser would leave a trailing
    // comma behind it (`{,}`), which no client can read. The emptied object is removed after this.
    return text.slice(0, object.offset + 1) + text.slice(object.offset + object.length - 1);
  }
  if (property && object?.children?.[0] === property) return removeFirstMember(text, property);
  let result = text;
  // From the end backwards, so that each edit's offsets still point into the text it was computed on.
  const edits = modify(text, path, value, {}).sort((a, b) => b.offset - a.offset);
  for (const edit of edits) {
    result = result.slice(0, edit.offset) + edit.content + result.slice(edit.offset + edit.length);
    if (edit.content.length > 0) {
      result = applyEdits(result, format(result, { offset: edit.offset, length: edit.content.length }, style.options));
    }
  }
  return result;
}

/**
 * jsonc-parser removes a first member from the opening brace on, taking the comments and
 * indentation above it along; here the member goes with its comma and its own line only.
 */
function removeFirstMember(text: string, property: Node): string {
  const scanner = createScanner(text, true);
  scanner.setPosition(property.offset + property.length);
  let token = scanner.scan();
  while (token !== COMMA && token !== EOF) token = scanner.scan();
  let end = scanner.getTokenOffset() + scanner.getTokenLength();
  let start = property.offset;
  const restOfLine = /^[ \t]*(\r\n|\n|\r)/.exec(text.slice(end));
  const lineStart = Math.max(text.lastIndexOf("\n", start - 1), text.lastIndexOf("\r", start - 1)) + 1;
  if (restOfLine && /^[ \t]*$/.test(text.slice(lineStart, start))) {
    start = lineStart;
    end += restOfLine[0].length;
  }
  return text.slice(0, start) + text.slice(end);
}
