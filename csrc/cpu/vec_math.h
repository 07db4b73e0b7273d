// Element loops of the CPU kernel: fp16 rounding with the CPU's F16C conversions and exp through SLEEF's
// u10 expf (the routine torch.exp uses on the CPU), with portable fallbacks where AVX2/F16C are absent.
#pragma once

#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#include <sleef.h>
#define PASA_CPU_AVX2 1
#endif

namespace pasa::cpu {

inline float round_fp16(float x) {
#ifdef PASA_CPU_AVX2
  return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
  return static_cast<float>(c10::Half(x));
#endif
}

// x[i] = fp16(x[i]) for i < n.
inline void round_fp16_inplace(float* x, int64_t n) {
  int64_t i = 0;
#ifdef PASA_CPU_AVX2
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) x[i] = round_fp16(x[i]);
}

// dst[i] = the float value of the fp16 bit pattern src[i] (exact), for i < n.
inline void fp16_to_fp32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#ifdef PASA_CPU_AVX2
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < n; ++i) dst[i] = static_cast<float>(c10::Half(src[i], c10::Half::from_bits()));
}

// dst[i] = fp16(src[i]) as a bit pattern (round to nearest even), for i < n.
inline void fp32_to_fp16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#ifdef PASA_CPU_AVX2
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; i < n; ++i) dst[i] = c10::Half(src[i]).x;
}

// Σ x[i] in fp32 over 8 lanes (SIMD order, as the model's torch reductions use a SIMD order too).
inline float sum_of(const float* x, int64_t n) {
  int64_t i = 0;
  float sum = 0.f;
#ifdef PASA_CPU_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float lane : lanes) sum += lane;
#endif
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// Σ a[i]·b[i] in fp32 over 8 lanes.
inline float dot_of(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float sum = 0.f;
#ifdef PASA_CPU_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float lane : lanes) sum += lane;
#endif
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// max x[i] (−inf for n = 0), NaN if any x[i] is NaN.
inline float max_of(const float* x, int64_t n) {
  int64_t i = 0;
  float r = -std::numeric_limits<float>::infinity();
  bool nan = false;
#ifdef PASA_CPU_AVX2
  __m256 acc = _mm256_set1_ps(r), bad = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_max_ps(acc, v);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float lane : lanes) r = lane > r ? lane : r;
  nan = _mm256_movemask_ps(bad) != 0;
#endif
  for (; i < n; ++i) {
    r = x[i] > r ? x[i] : r;
    nan |= x[i] != x[i];
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : r;
}

// x[i] = (x[i] + g[i])·s for i < n; returns max x[i] (−inf for n = 0) and sets *top to max |x[i]|, both NaN if any
// x[i] is NaN (the exact variant's z = s_rest·(S' + g), its row max where every key is visible, and the test for its
// fp32 fallback: a finite *top means no score of the row overflowed).
inline float add_scale_max(float* x, const float* g, float s, int64_t n, float* top) {
  int64_t i = 0;
  float hi = -std::numeric_limits<float>::infinity(), mag = 0.f;
  bool nan = false;
#ifdef PASA_CPU_AVX2
  const __m256 vs = _mm256_set1_ps(s), sign = _mm256_set1_ps(-0.f);
  __m256 vhi = _mm256_set1_ps(hi), vmag = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 z = _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(g + i)), vs);
    _mm256_storeu_ps(x + i, z);
    vhi = _mm256_max_ps(vhi, z);
    vmag = _mm256_max_ps(vmag, _mm256_andnot_ps(sign, z));
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(z, z, _CMP_UNORD_Q));
  }
  alignas(32) float lanes[8], mags[8];
  _mm256_store_ps(lanes, vhi);
  _mm256_store_ps(mags, vmag);
  for (int j = 0; j < 8; ++j) {
    hi = lanes[j] > hi ? lanes[j] : hi;
    mag = mags[j] > mag ? mags[j] : mag;
  }
  nan = _mm256_movemask_ps(bad) != 0;
#endif
  for (; i < n; ++i) {
    x[i] = (x[i] + g[i]) * s;
    hi = x[i] > hi ? x[i] : hi;
    const float a = std::fabs(x[i]);
    mag = a > mag ? a : mag;
    nan |= x[i] != x[i];
  }
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  *top = nan ? qnan : mag;
  return nan ? qnan : hi;
}

// p[i] = fp16(exp(x[i] - r)); with `round_arg` the argument is rounded to fp16 first (the paper's fp16 vector
// ops). Returns the fp32 sum of the rounded p[i], accumulated left to right.
inline float exp_shifted_fp16(const float* x, float r, float* p, int64_t n, bool round_arg) {
  int64_t i = 0;
#ifdef PASA_CPU_AVX2
  const __m256 vr = _mm256_set1_ps(r);
  for (; i + 8 <= n; i += 8) {
    __m256 arg = _mm256_sub_ps(_mm256_loadu_ps(x + i), vr);
    if (round_arg) arg = _mm256_cvtph_ps(_mm256_cvtps_ph(arg, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256 e = _mm256_cvtph_ps(_mm256_cvtps_ph(Sleef_expf8_u10avx2(arg), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_ps(p + i, e);
  }
  if (i < n) {  // tail through the same vector routine, so every element rounds alike
    alignas(32) float buf[8];
    for (int64_t j = 0; j < 8; ++j) buf[j] = i + j < n ? x[i + j] : r;
    exp_shifted_fp16(buf, r, buf, 8, round_arg);
    for (int64_t j = 0; i + j < n; ++j) p[i + j] = buf[j];
    i = n;
  }
#endif
  for (; i < n; ++i) {
    float arg = x[i] - r;
    if (round_arg) arg = round_fp16(arg);
    p[i] = round_fp16(std::exp(arg));
  }
  return sum_of(p, n);
}

}  // namespace pasa::cpu
