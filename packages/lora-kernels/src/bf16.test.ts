import { describe, expect, it } from "vitest";
import { Bf16Array, bf16, fromBf16, isBf16Array, toBf16 } from "./index.js";
import { randomArray, seededRandom } from "./test-utils.js";

describe("bf16", () => {
  it("rounds to nearest, ties to even, as hand-computed", () => {
    // 1 + 2^-8 lies halfway between bf16 1.0 (0x3f80) and 1 + 2^-7 (0x3f81): ties go to even 0x3f80.
    // 1 + 3·2^-8 lies halfway between 0x3f81 and 0x3f82: even is 0x3f82. 1 + 2^-8 + 2^-20 rounds up.
    const bits = toBf16(new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2, 0]));
    expect(Array.from(bits)).toEqual([0x3f80, 0x3f80, 0x3f82, 0x3f81, 0xc000, 0]);
  });

  it("keeps NaN and infinities, and widens exactly", () => {
    const bits = toBf16(new Float32Array([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]));
    const back = fromBf16(bits);
    expect(Number.isNaN(back[0])).toBe(true);
    expect(back[1]).toBe(Number.POSITIVE_INFINITY);
    expect(back[2]).toBe(Number.NEGATIVE_INFINITY);
    expect(Array.from(fromBf16(new Uint16Array([0x3f80, 0x4049, 0xbf00])))).toEqual([1, 3.140625, -0.5]);
  });

  it("round trips within half a bf16 ulp (2^-9 relative)", () => {
    const values = randomArray(1000, seededRandom(3)).map((v) => v * 1000);
    const back = fromBf16(toBf16(values));
    for (let i = 0; i < values.length; i++) {
      expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -8 + 1e-30);
    }
  });

  it("tags raw bits without copying and recognises tagged arrays", () => {
    const raw = new Uint16Array([0x3f80, 0x4000]);
    const tagged = bf16(raw);
    expect(tagged).toBeInstanceOf(Bf16Array);
    expect(tagged).toBeInstanceOf(Uint16Array);
    expect(isBf16Array(tagged)).toBe(true);
    expect(isBf16Array(raw)).toBe(false);
    raw[0] = 0x4040;
    expect(fromBf16(tagged)[0]).toBe(3);
  });
});
