/** A JSON value with `change` applied to every string in it (keys left alone); unchanged parts keep their identity. */
export function mapStrings(value: unknown, change: (text: string) => string): unknown {
  if (typeof value === "string") return change(value);
  if (Array.isArray(value)) {
    const mapped = value.map((item) => mapStrings(item, change));
    return mapped.every((item, index) => item === value[index]) ? value : mapped;
  }
  if (typeof value !== "object" || value === null) return value;
  let changed = false;
  const entries = Object.entries(value).map(([key, item]) => {
    const mapped = mapStrings(item, change);
    changed ||= mapped !== item;
    return [key, mapped] as const;
  });
  return changed ? Object.fromEntries(entries) : value;
}

/** Every string in a JSON value, keys included. */
export function* stringsOf(value: unknown): Generator<string> {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) for (const item of value) yield* stringsOf(item);
  else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      yield key;
      yield* stringsOf(item);
    }
  }
}
