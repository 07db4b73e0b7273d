// The AscendC scalar types `half` (IEEE binary16) and `bfloat16_t` for the CPU simulator: storage is the 16-bit
// pattern, arithmetic goes through float and every conversion from float rounds to nearest, ties to even,
// exactly as the Vector unit's fp16 results do.
#pragma once

#include <cstdint>
#include <cstring>

namespace ascend_sim {

inline uint16_t float_to_half_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u) return static_cast<uint16_t>(sign | (mag > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (mag >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504: inf
  if (mag < 0x38800000u) {                                               // below 2^-14: subnormal or zero
    if (mag < 0x33000000u) return static_cast<uint16_t>(sign);          // below half of 2^-24
    const uint32_t exp = mag >> 23, mant = (mag & 0x7fffffu) | 0x800000u;
    // mant·2^(exp−150) / 2^-24 = mant·2^(exp−126) = mant >> (126 − exp)
    const uint32_t drop = 126 - exp;  // 14..25
    const uint32_t keep = mant >> drop, rem = mant & ((1u << drop) - 1), halfway = 1u << (drop - 1);
    uint32_t r = keep + ((rem > halfway || (rem == halfway && (keep & 1u))) ? 1u : 0u);
    return static_cast<uint16_t>(sign | r);
  }
  // normal: rebias the exponent (127 → 15) and round the 23-bit mantissa to 10 bits
  uint32_t r = ((mag >> 13) - (112u << 10));
  const uint32_t rem = mag & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<uint16_t>(sign | r);
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      float f = static_cast<float>(mant) * (1.0f / 16777216.0f);  // mant·2^-24, exact
      return sign ? -f : f;
    }
  } else {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

inline uint16_t float_to_bf16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

inline float bf16_bits_to_float(uint16_t b) {
  uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace ascend_sim

struct half {
  uint16_t bits = 0;
  half() = default;
  half(float f) : bits(ascend_sim::float_to_half_bits(f)) {}  // NOLINT: implicit, as AscendC's half
  half(double f) : half(static_cast<float>(f)) {}             // NOLINT
  half(int v) : half(static_cast<float>(v)) {}                // NOLINT
  operator float() const { return ascend_sim::half_bits_to_float(bits); }  // NOLINT
};

struct bfloat16_t {
  uint16_t bits = 0;
  bfloat16_t() = default;
  bfloat16_t(float f) : bits(ascend_sim::float_to_bf16_bits(f)) {}  // NOLINT
  operator float() const { return ascend_sim::bf16_bits_to_float(bits); }  // NOLINT
};
