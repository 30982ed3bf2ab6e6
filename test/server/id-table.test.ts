import { describe, expect, it } from 'vitest';
import { IdTable } from '../../lib/fastcgi/id-table.js';

// The connections' table of requests by id: it must behave as the Map it replaces (get/has/set/delete/size,
// insertion-order iteration), whichever entry sits in its one-request slot.
describe('IdTable', () => {
  it('keeps one request at a time, as a kept connection from nginx does', () => {
    const t = new IdTable<string>();
    for (let i = 0; i < 3; i++) {
      expect(t.size).toBe(0);
      expect(t.get(1)).toBeUndefined();
      t.set(1, `r${i}`);
      expect(t.get(1)).toBe(`r${i}`);
      expect(t.has(1)).toBe(true);
      expect(t.size).toBe(1);
      expect(t.delete(1)).toBe(true);
      expect(t.delete(1)).toBe(false);
      expect(t.has(1)).toBe(false);
    }
  });

  it('holds multiplexed requests and iterates them in insertion order, like a Map', () => {
    const t = new IdTable<string>();
    const m = new Map<number, string>();
    // A scripted mix of sets and deletes, including deleting the oldest while others remain.
    const ops: [string, number][] = [['set', 5], ['set', 2], ['set', 9], ['del', 5], ['set', 7], ['set', 2],
      ['del', 9], ['del', 2], ['set', 1], ['del', 7], ['del', 1], ['set', 3], ['set', 4], ['del', 4], ['set', 6]];
    ops.forEach(([op, id], step) => {
      if (op === 'set') { t.set(id, `v${step}`); m.set(id, `v${step}`); }
      else expect(t.delete(id)).toBe(m.delete(id));
      expect(t.size).toBe(m.size);
      expect(t.entries()).toEqual([...m.entries()]);
      expect(t.values()).toEqual([...m.values()]);
      expect([...t]).toEqual([...m]);
      for (const k of [1, 2, 3, 4, 5, 6, 7, 9]) {
        expect(t.get(k)).toBe(m.get(k));
        expect(t.has(k)).toBe(m.has(k));
      }
    });
  });

  it('gives snapshots that stay valid while entries are deleted, and empties on clear', () => {
    const t = new IdTable<number>();
    t.set(1, 10).set(2, 20).set(3, 30);
    const seen: number[] = [];
    for (const v of t.values()) { seen.push(v); t.delete(2); }
    expect(seen).toEqual([10, 20, 30]);
    expect(t.size).toBe(2);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.values()).toEqual([]);
    t.set(8, 80);
    expect(t.entries()).toEqual([[8, 80]]);
  });
});
