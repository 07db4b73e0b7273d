#include "attention_args.h"

#include <cmath>
#include <string>

#include "../op_host/pasa_text.h"

namespace pasa {

const char* const kSchema =
    "attention(Tensor q, Tensor k, Tensor v, Tensor? mask=None, float? scale=None, bool causal=False, "
    "str causal_align=\"top_left\", str variant=\"exact\", int block_n=128, float? beta=None, "
    "str backend=\"auto\") -> Tensor";

namespace {

constexpr double kFp16Max = 65504.0;
constexpr int64_t kBlockMin = 16, kBlockMax = 1024, kBlockMultiple = 16, kHeadDimMax = 512;

// Messages are built by pasa_text::Cat (op_host/pasa_text.h), not streamed by c10::str: on a CUDA build host
// (g++ 13.3, torch 2.11) streaming a number into an error message from this extension crashed the process.
std::string name_of(c10::ScalarType t) { return c10::toString(t); }
std::string name_of(const c10::Device& d) { return d.str(); }
#define PASA_CHECK_VALUE(cond, ...) TORCH_CHECK_VALUE(cond, pasa_text::Cat(__VA_ARGS__))
#define PASA_CHECK_TYPE(cond, ...) TORCH_CHECK_TYPE(cond, pasa_text::Cat(__VA_ARGS__))

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_tensor(const at::Tensor& t, const char* name) {
  PASA_CHECK_VALUE(t.defined(), "pasa.attention: ", name, " must be a tensor, got None");
  PASA_CHECK_VALUE(t.dim() == 4, "pasa.attention: ", name, " must be 4-D (B, N, S, D), got shape ",
                    shape_str(t));
  PASA_CHECK_TYPE(t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16, "pasa.attention: ", name,
                   " must be float16 or bfloat16, got ", name_of(t.scalar_type()));
}

void check_fp16_range(const at::Tensor& t, const char* name) {
  if (t.scalar_type() != at::kBFloat16 || t.numel() == 0 || t.is_meta()) return;
  auto a = t.abs();
  bool outside = (a.gt(kFp16Max) & a.isfinite()).any().item<bool>();
  PASA_CHECK_VALUE(!outside, "pasa.attention: ", name, " holds bfloat16 values beyond float16's range (|x| > ",
                    kFp16Max, "); PASA computes in float16, so rescale the input");
}

}  // namespace

AttentionArgs check_attention_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                   bool causal, const std::string& causal_align, const std::string& variant,
                                   int64_t block_n, std::optional<double> beta, bool check_values) {
  check_tensor(q, "q");
  check_tensor(k, "k");
  check_tensor(v, "v");
  PASA_CHECK_TYPE(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
                   "pasa.attention: q, k and v must share one dtype, got ", name_of(q.scalar_type()), ", ",
                   name_of(k.scalar_type()), ", ", name_of(v.scalar_type()));
  PASA_CHECK_VALUE(k.device() == q.device() && v.device() == q.device(),
                    "pasa.attention: q, k and v must be on one device, got ", name_of(q.device()), ", ",
                    name_of(k.device()), ", ", name_of(v.device()));
  PASA_CHECK_VALUE(k.sizes() == v.sizes(), "pasa.attention: k and v must have the same shape, got k ",
                    shape_str(k), " and v ", shape_str(v));
  PASA_CHECK_VALUE(k.size(0) == q.size(0), "pasa.attention: k must have q's batch size ", q.size(0), ", got ",
                    k.size(0), " (q ", shape_str(q), ", k ", shape_str(k), ")");
  PASA_CHECK_VALUE(k.size(3) == q.size(3), "pasa.attention: k's head dim D must equal q's (", q.size(3),
                    "), got ", k.size(3));
  PASA_CHECK_VALUE(q.size(3) >= 1 && q.size(3) <= kHeadDimMax, "pasa.attention: head dim D must be in [1, ",
                    kHeadDimMax, "], got ", q.size(3));
  PASA_CHECK_VALUE(k.size(1) >= 1 && q.size(1) % k.size(1) == 0, "pasa.attention: q's head count N (",
                    q.size(1), ") must be a multiple of k's head count Nkv (", k.size(1), ") for GQA/MQA");

  AttentionArgs a{};
  if (variant == "exact") a.variant = Variant::kExact;
  else if (variant == "pasa") a.variant = Variant::kPasa;
  else if (variant == "paper") a.variant = Variant::kPaper;
  else PASA_CHECK_VALUE(false, "pasa.attention: variant must be 'exact', 'pasa' or 'paper', got '", variant, "'");

  if (causal_align == "top_left") a.align = CausalAlign::kTopLeft;
  else if (causal_align == "bottom_right") a.align = CausalAlign::kBottomRight;
  else PASA_CHECK_VALUE(false, "pasa.attention: causal_align must be 'top_left' or 'bottom_right', got '",
                         causal_align, "'");
  a.causal = causal;

  PASA_CHECK_VALUE(block_n >= kBlockMin && block_n <= kBlockMax && block_n % kBlockMultiple == 0,
                    "pasa.attention: block_n must be a multiple of ", kBlockMultiple, " in [", kBlockMin, ", ",
                    kBlockMax, "], got ", block_n);
  a.block_n = block_n;

  a.scale = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  PASA_CHECK_VALUE(std::isfinite(a.scale) && a.scale > 0, "pasa.attention: scale must be finite and > 0, got ",
                    a.scale);
  if (a.variant == Variant::kExact) {
    PASA_CHECK_VALUE(!beta.has_value() || *beta == 1.0,
                      "pasa.attention: beta is fixed at 1 for variant 'exact'; pass beta=None, got ", *beta);
    a.beta = 1.0;
  } else {
    a.beta = beta.has_value() ? *beta : 0.984497;  // the authors' final value (python/pasa/beta.py)
    PASA_CHECK_VALUE(a.beta > 0 && a.beta < 1, "pasa.attention: beta must lie in (0, 1) for variant '",
                      variant, "', got ", a.beta);
  }

  a.batch = q.size(0);
  a.heads = q.size(1);
  a.kv_heads = k.size(1);
  a.s1 = q.size(2);
  a.s2 = k.size(2);
  a.head_dim = q.size(3);

  if (mask.has_value() && mask->defined()) {
    const at::Tensor& m = *mask;
    PASA_CHECK_TYPE(m.scalar_type() == at::kBool || at::isFloatingType(m.scalar_type()),
                     "pasa.attention: mask must be bool (True = attend) or floating (added to the scores), got ",
                     name_of(m.scalar_type()));
    PASA_CHECK_VALUE(m.device() == q.device(), "pasa.attention: mask must be on q's device ", name_of(q.device()),
                      ", got ", name_of(m.device()));
    std::vector<int64_t> full{a.batch, a.heads, a.s1, a.s2};
    bool ok = m.dim() <= 4;
    for (int64_t i = 0; ok && i < m.dim(); ++i) {
      int64_t size = m.size(m.dim() - 1 - i), want = full[3 - i];
      ok = size == want || size == 1;
    }
    PASA_CHECK_VALUE(ok, "pasa.attention: mask must broadcast to (B, N, S1, S2) = (", a.batch, ", ", a.heads, ", ",
                      a.s1, ", ", a.s2, "), got shape ", shape_str(m));
  }
  if (check_values && a.variant != Variant::kExact) {  // exact scales bf16 slices into fp16 (docs/numerics.md)
    check_fp16_range(q, "q");
    check_fp16_range(k, "k");
    check_fp16_range(v, "v");
  }
  return a;
}

at::Tensor mask_as_bias(const std::optional<at::Tensor>& mask, const AttentionArgs& a) {
  if (!mask.has_value() || !mask->defined()) return at::Tensor();
  const at::Tensor& m = *mask;
  at::Tensor bias = m.scalar_type() == at::kBool
                        ? at::zeros(m.sizes(), m.options().dtype(at::kFloat)).masked_fill(m.logical_not(), -INFINITY)
                        : m.to(at::kFloat);
  return bias.expand({a.batch, a.heads, a.s1, a.s2});
}

}  // namespace pasa
