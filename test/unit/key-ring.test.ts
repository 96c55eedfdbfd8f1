import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/providers/key-ring.js';

function ring(size: number) {
  const clock = { now: 1_000 };
  return { clock, keys: new KeyRing(size, () => clock.now) };
}

describe('KeyRing', () => {
  it('sticks to the key in use while it works', () => {
    const { keys } = ring(3);
    expect([keys.current(), keys.current(), keys.current()]).toEqual([0, 0, 0]);
    expect(keys.usable()).toBe(3);
  });

  it('moves to the next usable key when the one in use cools, and stays there after it recovers', () => {
    const { clock, keys } = ring(3);
    keys.cool(0, 500);
    expect(keys.current()).toBe(1);
    expect(keys.usable()).toBe(2);
    clock.now += 500;
    expect(keys.usable()).toBe(3);
    expect(keys.current()).toBe(1);
  });

  it('skips cooling keys, wrapping around', () => {
    const { keys } = ring(3);
    keys.cool(0, 100);
    expect(keys.current()).toBe(1);
    keys.cool(1, 100);
    keys.cool(2, 100);
    expect(keys.usable()).toBe(0);
    const { clock, keys: other } = ring(3);
    other.cool(0, 10);
    expect(other.current()).toBe(1);
    other.cool(1, 10);
    expect(other.current()).toBe(2);
    clock.now += 10;
    other.cool(2, 10);
    expect(other.current()).toBe(0);
  });

  it('with every key cooling, answers the one free soonest', () => {
    const { keys } = ring(3);
    keys.cool(0, 300);
    keys.cool(1, 100);
    keys.cool(2, 200);
    expect(keys.current()).toBe(1);
  });

  it('a shorter cooldown never shortens a longer one', () => {
    const { clock, keys } = ring(2);
    keys.cool(0, 1_000);
    keys.cool(0, 10);
    clock.now += 500;
    expect(keys.usable()).toBe(1);
    expect(keys.current()).toBe(1);
  });
});
