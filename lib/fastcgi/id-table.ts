/**
 * Values by FastCGI request id, with the part of Map's surface the connections use.
 *
 * A connection mostly carries one request at a time: nginx, Apache and this package's client pool send
 * request id 1 again and again on a kept connection. That request lives in a slot. A Map that is filled
 * with one entry and emptied again on every request reallocates its hash table each time it empties (it
 * shrinks to fit), which cost about 0.3 us per request in place (bench/E2E-RESULTS.md); multiplexed
 * requests beyond the first go to a Map.
 *
 * Iteration is in insertion order, as a Map's: the slot is only taken while the table is empty, so it
 * always holds the oldest entry.
 */
export class IdTable<T extends object> {
  /** The slot's id, and its value: undefined while the slot is empty (values are objects). */
  private slotId = -1;
  private slotValue: T | undefined = undefined;
  private more: Map<number, T> | null = null;
  /** Number of entries. */
  size = 0;

  get(id: number): T | undefined {
    if (id === this.slotId) return this.slotValue;
    return this.more === null ? undefined : this.more.get(id);
  }

  has(id: number): boolean {
    if (id === this.slotId) return this.slotValue !== undefined;
    return this.more !== null && this.more.has(id);
  }

  set(id: number, value: T): this {
    if (id === this.slotId) {
      this.slotValue = value;
    } else if (this.more !== null && this.more.has(id)) {
      this.more.set(id, value);
    } else {
      if (this.size === 0) {
        this.slotId = id;
        this.slotValue = value;
      } else {
        (this.more ??= new Map()).set(id, value);
      }
      this.size++;
    }
    return this;
  }

  delete(id: number): boolean {
    if (id === this.slotId && this.slotValue !== undefined) {
      this.slotId = -1;
      this.slotValue = undefined;
    } else if (this.more === null || !this.more.delete(id)) {
      return false;
    }
    this.size--;
    return true;
  }

  clear(): void {
    this.slotId = -1;
    this.slotValue = undefined;
    this.more = null;
    this.size = 0;
  }

  /** A snapshot of the values: entries may be added or deleted while it is walked. */
  values(): T[] {
    const out: T[] = [];
    if (this.slotId !== -1) out.push(this.slotValue as T);
    if (this.more !== null) for (const v of this.more.values()) out.push(v);
    return out;
  }

  /** A snapshot of the [id, value] entries. */
  entries(): [number, T][] {
    const out: [number, T][] = [];
    if (this.slotId !== -1) out.push([this.slotId, this.slotValue as T]);
    if (this.more !== null) for (const e of this.more) out.push(e);
    return out;
  }

  [Symbol.iterator](): IterableIterator<[number, T]> {
    return this.entries()[Symbol.iterator]();
  }
}
