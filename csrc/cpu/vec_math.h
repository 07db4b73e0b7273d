// Element loops of the CPU kernel: fp16 rounding with the CPU's F16C conversions and exp through SLEEF's
// u10 expf (the routine torch.exp uses on the CPU), with portable fallbacks where AVX2/F16C are absent.
#pragma once

#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#include <sleef.h>
#define PASA_CPU_AVX2 1
#endif

namespace pasa::cpu {

inline float round_fp16(float x) { return static_cast<float>(c10::Half(x)); }

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

// p[i] = fp16(exp(x[i] - r)); with `round_arg` the argument is rounded to fp16 first (the paper's fp16 vector
// ops). Returns the fp32 sum of the rounded p[i], accumulated left to right.
inline float exp_shifted_fp16(const float* x, float r, float* p, int64_t n, bool round_arg) {
  float sum = 0.f;
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
  for (int64_t j = 0; j < n; ++j) sum += p[j];
  return sum;
}

}  // namespace pasa::cpu
