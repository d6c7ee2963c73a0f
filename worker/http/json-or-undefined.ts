/** `text` parsed as JSON, or undefined when it is not JSON: for bodies whose shape is checked next anyway. */
export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
