/**
 * A function of a string, remembered: the same few names (header names, param names) come with every
 * request. Bounded, because the names come from the wire: past `max` entries it starts afresh.
 */
export function memoize<V>(compute: (key: string) => V, max = 1024): (key: string) => V {
  const seen = new Map<string, V>();
  return (key) => {
    let value = seen.get(key);
    if (value === undefined) {
      value = compute(key);
      if (seen.size >= max) seen.clear();
      seen.set(key, value);
    }
    return value;
  };
}
