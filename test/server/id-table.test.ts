import { describe, expect, it } from 'vitest';
import { IdTable } from '../../lib/fastcgi/id-table.js';

// The connections' table of requests by id: it must behave as the Map it replaces (get/has/set/delete/size,
// insertion-order iteration), whichever entry sits in its one-request slot.
const v = (name: string): { name: string } => ({ name });

describe('IdTable', () => {
  it('keeps one request at a time, as a kept connection from nginx does', () => {
    const t = new IdTable<{ name: string }>();
    for (let i = 0; i < 3; i++) {
      expect(t.size).toBe(0);
      expect(t.get(1)).toBeUndefined();
      const r = v(`r${i}`);
      t.set(1, r);
      expect(t.get(1)).toBe(r);
      expect(t.has(1)).toBe(true);
      expect(t.size).toBe(1);
      expect(t.delete(1)).toBe(true);
      expect(t.delete(1)).toBe(false);
      expect(t.has(1)).toBe(false);
    }
  });

  it('holds multiplexed requests and iterates them in insertion order, like a Map', () => {
    const t = new IdTable<{ name: string }>();
    const m = new Map<number, { name: string }>();
    // A scripted mix of sets and deletes, including deleting the oldest while others remain.
    const ops: [string, number][] = [['set', 5], ['set', 2], ['set', 9], ['del', 5], ['set', 7], ['set', 2],
      ['del', 9], ['del', 2], ['set', 1], ['del', 7], ['del', 1], ['set', 3], ['set', 4], ['del', 4], ['set', 6]];
    ops.forEach(([op, id], step) => {
      if (op === 'set') { const r = v(`v${step}`); t.set(id, r); m.set(id, r); }
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

  it('answers as a Map for ids never stored, the empty slot\'s own marker included', () => {
    const t = new IdTable<{ name: string }>();
    for (const id of [-1, 0, 65535]) {
      expect(t.has(id)).toBe(false);
      expect(t.get(id)).toBeUndefined();
      expect(t.delete(id)).toBe(false);
    }
    expect(t.size).toBe(0);
  });

  it('gives snapshots that stay valid while entries are deleted, and empties on clear', () => {
    const t = new IdTable<{ name: string }>();
    const [a, b, c] = [v('a'), v('b'), v('c')];
    t.set(1, a).set(2, b).set(3, c);
    const seen: { name: string }[] = [];
    for (const r of t.values()) { seen.push(r); t.delete(2); }
    expect(seen).toEqual([a, b, c]);
    expect(t.size).toBe(2);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.values()).toEqual([]);
    const d = v('d');
    t.set(8, d);
    expect(t.entries()).toEqual([[8, d]]);
  });
});
