#include "attention_args.h"

#include <cmath>
#include <string>

#include "../op_host/pasa_text.h"

namespace pasa {

static float round_fp16(float x) { return static_cast<float>(c10::Half(x)); }  // round to nearest even, as F16C

void shift_entries(double scale, double beta, int64_t n, float* d, float* e) {
  const float s = static_cast<float>(scale), b = static_cast<float>(beta);
  *d = round_fp16(s * (1.f - b / static_cast<float>(n)));
  *e = round_fp16(s * (b / static_cast<float>(n)));
}

float exact_coefficient(double scale, double beta, int64_t n) {
  float d, e;
  shift_entries(scale, beta, n, &d, &e);
  const float num = e * static_cast<float>(n);
  return num / ((d + e) - num);
}

float paper_coefficient(double beta) {
  const float b = static_cast<float>(beta);
  return round_fp16(b / (1.f - b));
}

const char* const kSchema =
    "attention(Tensor q, Tensor k, Tensor v, Tensor? mask=None, float? scale=None, bool causal=False, "
    "str causal_align=\"top_left\", str variant=\"exact\", int block_n=128, float? beta=None, "
    "str backend=\"auto\", bool return_lse=False, Tensor? sinks=None) -> (Tensor out, Tensor lse)";

const char* const kVarlenSchema =
    "attention_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, int max_seqlen_q, "
    "int max_seqlen_k, float? scale=None, bool causal=False, str causal_align=\"top_left\", "
    "str variant=\"exact\", int block_n=128, float? beta=None, str backend=\"auto\", bool return_lse=False, "
    "Tensor? sinks=None) -> (Tensor out, Tensor lse)";

namespace {

constexpr double kFp16Max = 65504.0;
constexpr double kFp32Max = 3.4028234663852886e38;  // FLT_MAX
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

// dims 4: pasa.attention's (B, N, S, D); dims 3: pasa.attention_varlen's (T, N, D).
void check_tensor(const at::Tensor& t, const char* name, int64_t dims, const char* op) {
  PASA_CHECK_VALUE(t.defined(), op, ": ", name, " must be a tensor, got None");
  PASA_CHECK_VALUE(t.dim() == dims, op, ": ", name, dims == 4 ? " must be 4-D (B, N, S, D)" : " must be 3-D (T, N, D)",
                   ", got shape ", shape_str(t));
  PASA_CHECK_TYPE(t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16, op, ": ", name,
                   " must be float16 or bfloat16, got ", name_of(t.scalar_type()));
}

// q, k, v with `dims` dimensions (N in dim 1, D last); one dtype, one device, k and v alike.
void check_qkv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t dims, const char* op) {
  check_tensor(q, "q", dims, op);
  check_tensor(k, "k", dims, op);
  check_tensor(v, "v", dims, op);
  PASA_CHECK_TYPE(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), op,
                   ": q, k and v must share one dtype, got ", name_of(q.scalar_type()), ", ",
                   name_of(k.scalar_type()), ", ", name_of(v.scalar_type()));
  PASA_CHECK_VALUE(k.device() == q.device() && v.device() == q.device(), op,
                    ": q, k and v must be on one device, got ", name_of(q.device()), ", ", name_of(k.device()), ", ",
                    name_of(v.device()));
  // by dimension name, not shape: pasa.attention's BSND tensors arrive here transposed to BNSD
  const char* const bnsd_dims[] = {"batch size B", "head count Nkv", "key length S2", "head dim D"};
  const char* const tnd_dims[] = {"token count Tk", "head count Nkv", "head dim D"};
  for (int64_t i = 0; i < dims; ++i)
    PASA_CHECK_VALUE(k.size(i) == v.size(i), op, ": k and v must have the same shape: v's ",
                      (dims == 4 ? bnsd_dims : tnd_dims)[i], " is ", v.size(i), ", k's ", k.size(i));
  const int64_t d = dims - 1, n = 1;  // D's and N's dims: BNSD (3, 1), TND (2, 1)
  PASA_CHECK_VALUE(k.size(d) == q.size(d), op, ": k's head dim D must equal q's (", q.size(d), "), got ", k.size(d));
  PASA_CHECK_VALUE(q.size(d) >= 1 && q.size(d) <= kHeadDimMax, op, ": head dim D must be in [1, ", kHeadDimMax,
                    "], got ", q.size(d));
  // N = Nkv = 0 passes: no heads, an empty output (as torch SDPA)
  PASA_CHECK_VALUE(k.size(n) >= 1 ? q.size(n) % k.size(n) == 0 : q.size(n) == 0, op, ": q's head count N (", q.size(n),
                    ") must be a multiple of k's head count Nkv (", k.size(n), ") for GQA/MQA");
}

// variant, causal alignment, block_n, scale and beta into `a` (head_dim set).
void resolve_attributes(AttentionArgs& a, std::optional<double> scale, bool causal, const std::string& causal_align,
                        const std::string& variant, int64_t block_n, std::optional<double> beta, const char* op) {
  if (variant == "exact") a.variant = Variant::kExact;
  else if (variant == "pasa") a.variant = Variant::kPasa;
  else if (variant == "paper") a.variant = Variant::kPaper;
  else PASA_CHECK_VALUE(false, op, ": variant must be 'exact', 'pasa' or 'paper', got '", variant, "'");

  if (causal_align == "top_left") a.align = CausalAlign::kTopLeft;
  else if (causal_align == "bottom_right") a.align = CausalAlign::kBottomRight;
  else PASA_CHECK_VALUE(false, op, ": causal_align must be 'top_left' or 'bottom_right', got '", causal_align, "'");
  a.causal = causal;
  // flash-attn and SDPA have no alignment without a causal mask: asking for one and getting full attention would
  // be a silent wrong answer
  PASA_CHECK_VALUE(causal || a.align == CausalAlign::kTopLeft, op,
                    ": causal_align='bottom_right' places a causal mask, so it needs causal=True");

  PASA_CHECK_VALUE(block_n >= kBlockMin && block_n <= kBlockMax && block_n % kBlockMultiple == 0, op,
                    ": block_n must be a multiple of ", kBlockMultiple, " in [", kBlockMin, ", ", kBlockMax,
                    "], got ", block_n);
  a.block_n = block_n;

  a.scale = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(a.head_dim));
  PASA_CHECK_VALUE(std::isfinite(a.scale) && a.scale > 0, op, ": scale must be finite and > 0, got ", a.scale);
  if (a.variant == Variant::kExact) {
    PASA_CHECK_VALUE(!beta.has_value() || *beta == 1.0, op,
                      ": beta is fixed at 1 for variant 'exact'; pass beta=None, got ", beta.value_or(1.0));
    a.beta = 1.0;
  } else {
    a.beta = beta.has_value() ? *beta : 0.984497;  // the authors' final value (python/pasa/beta.py)
    PASA_CHECK_VALUE(a.beta > 0 && a.beta < 1, op, ": beta must lie in (0, 1) for variant '", variant, "', got ",
                      a.beta);
    // β close to 1 leaves M's fp16 entries no room for 1 − β: the recovery coefficient becomes inf, or its
    // denominator rounds to 0 or below (a NaN output). Every block length 1..block_n occurs (tail blocks).
    bool usable = true;
    if (a.variant == Variant::kPaper) {
      usable = std::isfinite(paper_coefficient(a.beta));
    } else {
      for (int64_t n = 1; n <= a.block_n && usable; ++n) {
        const float c = exact_coefficient(a.scale, a.beta, n);
        usable = std::isfinite(c) && c >= 0;
      }
    }
    PASA_CHECK_VALUE(usable, op, ": beta = ", a.beta, " is too close to 1 for variant '", variant,
                      "' at scale ", a.scale, " and block_n ", a.block_n, ": the shift's recovery coefficient ",
                      a.variant == Variant::kPaper ? "fp16(beta / (1 - beta)) overflows fp16"
                                                   : "e*n / (d + e - e*n) from M's fp16 entries is not finite",
                      " (docs/numerics.md); use a smaller beta such as the default 0.984497");
  }
}

// Whether t holds a finite value of magnitude above limit (false for meta tensors, which hold no data).
bool holds_finite_beyond(const at::Tensor& t, double limit) {
  if (t.numel() == 0 || t.is_meta()) return false;
  auto a = t.abs();
  return (a.gt(limit) & a.isfinite()).any().item<bool>();
}

// A float64 mask or sinks can hold finite values beyond float32's range; the kernels hold both in float32, where such
// a value would become ±inf and a softmax of inf − inf NaN. Refused instead (−inf, "hidden" or "no sink", passes).
void check_fp32_range(const at::Tensor& t, const char* name, const char* op) {
  PASA_CHECK_VALUE(t.scalar_type() != at::kDouble || !holds_finite_beyond(t, kFp32Max), op, ": ", name,
                    " must hold values within float32's range (|x| <= ", kFp32Max,
                    ", torch.finfo(torch.float32).max) or -inf, since the kernels hold it in float32; got a finite "
                    "float64 value beyond it");
}

// sinks: one floating logit per query head, on q's device (values within float32's range where check_values).
void check_sinks(AttentionArgs& a, const std::optional<at::Tensor>& sinks, const at::Tensor& q, const char* op,
                 bool check_values) {
  a.has_sinks = sinks.has_value() && sinks->defined();
  if (!a.has_sinks) return;
  const at::Tensor& t = *sinks;
  PASA_CHECK_TYPE(at::isFloatingType(t.scalar_type()), op, ": sinks must be floating (one logit per query head), got ",
                   name_of(t.scalar_type()));
  PASA_CHECK_VALUE(t.dim() == 1 && t.size(0) == a.heads, op, ": sinks must have shape (N,) = (", a.heads,
                    ",), one logit per query head, got shape ", shape_str(t));
  PASA_CHECK_VALUE(t.device() == q.device(), op, ": sinks must be on q's device ", name_of(q.device()), ", got ",
                    name_of(t.device()));
  if (check_values) check_fp32_range(t, "sinks", op);
}

// cu_seqlens: B + 1 integers on q's device; where they hold data, 0 = cu[0] <= cu[1] <= ... <= cu[B] = tokens and
// no sequence longer than max_seqlen. Returns the values (empty for meta tensors).
std::vector<int64_t> check_cu_seqlens(const at::Tensor& cu, const char* name, int64_t tokens, int64_t max_seqlen,
                                      const char* max_name, const at::Tensor& q, bool check_values) {
  const char* op = "pasa.attention_varlen";
  PASA_CHECK_TYPE(cu.scalar_type() == at::kInt || cu.scalar_type() == at::kLong, op, ": ", name,
                   " must be int32 or int64, got ", name_of(cu.scalar_type()));
  PASA_CHECK_VALUE(cu.dim() == 1 && cu.size(0) >= 1, op, ": ", name,
                    " must be 1-D with B + 1 entries (the start of each sequence, then the token count), got shape ",
                    shape_str(cu));
  PASA_CHECK_VALUE(cu.device() == q.device(), op, ": ", name, " must be on q's device ", name_of(q.device()),
                    ", got ", name_of(cu.device()));
  PASA_CHECK_VALUE(max_seqlen >= 0, op, ": ", max_name, " must be >= 0, got ", max_seqlen);
  std::vector<int64_t> values;
  if (!check_values || cu.is_meta()) return values;
  const at::Tensor host = cu.to(at::kCPU, at::kLong).contiguous();
  values.assign(host.data_ptr<int64_t>(), host.data_ptr<int64_t>() + host.numel());
  PASA_CHECK_VALUE(values.front() == 0, op, ": ", name, "[0] must be 0, got ", values.front());
  for (size_t i = 1; i < values.size(); ++i) {
    const int64_t len = values[i] - values[i - 1];
    PASA_CHECK_VALUE(len >= 0, op, ": ", name, " must be non-decreasing, got ", values[i - 1], " then ", values[i],
                      " at index ", static_cast<int64_t>(i));
    PASA_CHECK_VALUE(len <= max_seqlen, op, ": sequence ", static_cast<int64_t>(i - 1), " has ", len,
                      " tokens, more than ", max_name, " = ", max_seqlen);
  }
  PASA_CHECK_VALUE(values.back() == tokens, op, ": ", name, "[-1] must equal the token count ", tokens, ", got ",
                    values.back());
  return values;
}

void check_fp16_range(const at::Tensor& t, const char* name) {
  PASA_CHECK_VALUE(t.scalar_type() != at::kBFloat16 || !holds_finite_beyond(t, kFp16Max), "pasa.attention: ", name,
                    " holds bfloat16 values beyond float16's range (|x| > ", kFp16Max,
                    "); PASA computes in float16, so rescale the input");
}

}  // namespace

AttentionArgs check_attention_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                   bool causal, const std::string& causal_align, const std::string& variant,
                                   int64_t block_n, std::optional<double> beta, bool check_values, bool return_lse,
                                   const std::optional<at::Tensor>& sinks) {
  const char* op = "pasa.attention";
  check_qkv(q, k, v, 4, op);
  PASA_CHECK_VALUE(k.size(0) == q.size(0), op, ": k must have q's batch size ", q.size(0), ", got ", k.size(0));
  AttentionArgs a{};
  a.batch = q.size(0);
  a.heads = q.size(1);
  a.kv_heads = k.size(1);
  a.s1 = q.size(2);
  a.s2 = k.size(2);
  a.head_dim = q.size(3);
  a.return_lse = return_lse;
  resolve_attributes(a, scale, causal, causal_align, variant, block_n, beta, op);
  check_sinks(a, sinks, q, op, check_values);

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
    if (check_values) check_fp32_range(m, "mask", op);
  }
  if (check_values && a.variant != Variant::kExact) {  // exact scales bf16 slices into fp16 (docs/numerics.md)
    check_fp16_range(q, "q");
    check_fp16_range(k, "k");
    check_fp16_range(v, "v");
  }
  return a;
}

AttentionArgs check_varlen_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& cu_seqlens_q, const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q,
                                int64_t max_seqlen_k, std::optional<double> scale, bool causal,
                                const std::string& causal_align, const std::string& variant, int64_t block_n,
                                std::optional<double> beta, bool return_lse, const std::optional<at::Tensor>& sinks,
                                bool check_values) {
  const char* op = "pasa.attention_varlen";
  check_qkv(q, k, v, 3, op);
  AttentionArgs a{};
  a.heads = q.size(1);
  a.kv_heads = k.size(1);
  a.head_dim = q.size(2);
  a.s1 = max_seqlen_q;
  a.s2 = max_seqlen_k;
  a.return_lse = return_lse;
  resolve_attributes(a, scale, causal, causal_align, variant, block_n, beta, op);
  check_sinks(a, sinks, q, op, check_values);
  PASA_CHECK_VALUE(cu_seqlens_q.defined() && cu_seqlens_k.defined(), op,
                    ": cu_seqlens_q and cu_seqlens_k must be tensors, got None");
  PASA_CHECK_VALUE(cu_seqlens_q.dim() != 1 || cu_seqlens_k.dim() != 1 || cu_seqlens_q.size(0) == cu_seqlens_k.size(0),
                    op, ": cu_seqlens_q and cu_seqlens_k must have the same length B + 1, got ", cu_seqlens_q.size(0),
                    " and ", cu_seqlens_k.size(0));
  a.cu_q = check_cu_seqlens(cu_seqlens_q, "cu_seqlens_q", q.size(0), max_seqlen_q, "max_seqlen_q", q, check_values);
  a.cu_k = check_cu_seqlens(cu_seqlens_k, "cu_seqlens_k", k.size(0), max_seqlen_k, "max_seqlen_k", q, check_values);
  a.batch = cu_seqlens_q.size(0) - 1;
  if (check_values) {
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

at::Tensor no_lse(const at::Tensor& q) { return at::empty({0}, q.options().dtype(at::kFloat)); }

}  // namespace pasa
