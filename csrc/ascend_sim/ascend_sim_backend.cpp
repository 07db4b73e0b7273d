// The simulator backend: host tiling (op_host) -> kernel (op_kernel) on the AscendC simulator, plus the
// pasa_ascend_sim test ops (the kernel with a chosen SoC / core count, the tiling plan, the violation kernels).
#include "ascend_sim_backend.h"

#include <torch/extension.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <string>

#include "../../op_host/pasa_attention_tiling_plan.h"
#include "../ascend_inputs.h"
#include "pasa_attention_sim.h"

namespace pasa::ascend_sim_backend {
namespace {

PasaVariant to_variant(Variant v) {
  switch (v) {
    case Variant::kExact: return PASA_VARIANT_EXACT;
    case Variant::kPasa: return PASA_VARIANT_PASA;
    default: return PASA_VARIANT_PAPER;
  }
}

pasa_tiling::Platform platform(const std::string& soc, int64_t coreNum) {
  pasa_tiling::Platform hw;
  try {
    hw = pasa_tiling::Platform910B(soc);
  } catch (const pasa_tiling::TilingError& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
  if (coreNum > 0) {
    hw.aicNum = static_cast<uint32_t>(coreNum);
    hw.aivNum = 2 * hw.aicNum;
  }
  return hw;
}

pasa_tiling::Plan make_plan(const pasa_tiling::Problem& p, const pasa_tiling::Platform& hw, int64_t maxQRows) {
  try {
    return pasa_tiling::MakePlan(p, hw, static_cast<uint32_t>(maxQRows));
  } catch (const pasa_tiling::TilingError& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

// What the last launch used (the pasa_ascend_sim.last_launch test hook)
std::mutex last_launch_mu;
std::string last_launch;

ascend_sim::Capacities capacities(const pasa_tiling::Platform& hw) {
  ascend_sim::Capacities c;
  c.ub = hw.ub;
  c.l1 = hw.l1;
  c.l0a = hw.l0a;
  c.l0b = hw.l0b;
  c.l0c = hw.l0c;
  return c;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> run(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                                       const KernelMask& mask, const AttentionArgs& a, const at::Tensor& sinks,
                                       bool return_lse, const SimOptions& o) {
  const bool tnd = !a.cu_q.empty();
  const char* op = tnd ? "pasa.attention_varlen" : "pasa.attention";
  if (!ascend_has_work(a)) return ascend_empty_result(q_in, a, sinks, return_lse);
  TORCH_CHECK_VALUE(a.head_dim <= 256, op, " backend 'ascend-sim': head dim D must be at most 256 for the ",
                    "Ascend kernel, got ", a.head_dim);
  // q, k, v in fp16 (exact: bf16 slices scaled by powers of two), the head dim padded to 16, the live keys and
  // per-head scales (csrc/ascend_inputs.h)
  PackedRows q_rows, kv_rows;
  if (tnd) {
    q_rows = packed_rows(a.cu_q, q_in.device());
    kv_rows = packed_rows(a.cu_k, q_in.device());
  }
  const KernelInputs in = ascend_kernel_inputs(q_in, k_in, v_in, mask, a, tnd ? &q_rows : nullptr,
                                               tnd ? &kv_rows : nullptr);
  pasa_tiling::Problem p;
  p.batch = a.batch; p.heads = a.heads; p.kvHeads = a.kv_heads; p.s1 = a.s1; p.s2 = a.s2; p.headDim = in.head_dim;
  p.layout = tnd ? PASA_LAYOUT_TND : PASA_LAYOUT_BNSD;
  p.cuQ = a.cu_q;
  p.cuK = a.cu_k;
  p.variant = to_variant(a.variant);
  p.causal = a.causal;
  p.causalOffset = a.align == CausalAlign::kBottomRight ? a.s2 - a.s1 : 0;
  p.bottomRight = a.align == CausalAlign::kBottomRight;
  p.blockN = static_cast<uint32_t>(a.block_n);
  p.scale = a.scale;
  p.beta = a.beta;
  p.maskType = mask.type;
  p.maskBatch = static_cast<uint32_t>(mask.batch);
  p.maskHeads = static_cast<uint32_t>(mask.heads);
  p.maskRows = static_cast<uint32_t>(mask.rows);
  p.outType = kernel_out_type(q_in.scalar_type());
  p.headScales = in.head_scales.defined();
  p.liveKeys = in.live_keys.defined();
  p.returnLse = return_lse;
  p.sinks = sinks.defined();
  const auto hw = platform(o.soc, o.core_num);
  const auto plan = make_plan(p, hw, o.max_q_rows);

  // NaN-filled: a row the kernel leaves unwritten shows
  std::vector<int64_t> padded = ascend_out_shape(a);
  padded.back() = in.head_dim;
  auto out = at::full(padded, NAN, q_in.options());
  auto lse = return_lse ? at::full(ascend_lse_shape(a), NAN, q_in.options().dtype(at::kFloat)) : at::Tensor();
  const auto sinks32 = sinks.defined() ? sinks.to(at::kFloat).contiguous() : at::Tensor();
  const auto cu_q = at::tensor(a.cu_q, at::TensorOptions().dtype(at::kLong));
  const auto cu_k = at::tensor(a.cu_k, at::TensorOptions().dtype(at::kLong));
  auto caps = capacities(hw);
  if (o.sim_ub_bytes > 0) caps.ub = static_cast<uint64_t>(o.sim_ub_bytes);
  auto ws = at::full({static_cast<int64_t>(plan.workspaceBytes)}, 0xff, q_in.options().dtype(at::kByte));  // NaN fill
  ascend_sim::KernelBuffers gm;
  gm.q = reinterpret_cast<const uint16_t*>(in.q.data_ptr());
  gm.k = reinterpret_cast<const uint16_t*>(in.k.data_ptr());
  gm.v = reinterpret_cast<const uint16_t*>(in.v.data_ptr());
  gm.mask = mask.tensor.defined() ? mask.tensor.data_ptr() : nullptr;
  gm.liveKeys = p.liveKeys ? reinterpret_cast<const uint8_t*>(in.live_keys.data_ptr()) : nullptr;
  gm.headScales = p.headScales ? in.head_scales.data_ptr<float>() : nullptr;
  gm.sinks = p.sinks ? sinks32.data_ptr<float>() : nullptr;
  gm.cuSeqlensQ = tnd ? cu_q.data_ptr<int64_t>() : nullptr;
  gm.cuSeqlensK = tnd ? cu_k.data_ptr<int64_t>() : nullptr;
  gm.out = reinterpret_cast<uint16_t*>(out.data_ptr());
  gm.lse = return_lse ? lse.data_ptr<float>() : nullptr;
  gm.workspace = ws.data_ptr<uint8_t>();
  ascend_sim::LaunchStats stats;
  try {
    ascend_sim::RunPasaAttention(gm, plan.data, plan.blockDim, caps, 2, &stats);
  } catch (const ascend_sim::SimError& e) {
    TORCH_CHECK(false, op, " backend 'ascend-sim': ", e.what());
  }
  std::lock_guard<std::mutex> lock(last_launch_mu);
  last_launch = pasa_text::Cat("workspace=", plan.workspaceBytes, " mask_bytes=",
                               mask.tensor.defined() ? mask.tensor.nbytes() : 0, " mask_shape=", mask.batch, "x",
                               mask.heads, "x", mask.rows, "x", mask.tensor.defined() ? a.s2 : 0, " tasks=",
                               plan.data.totalTasks, " q_rows=", plan.data.qRows, " max_event_ids=",
                               stats.max_event_peak, " events=", stats.event_peaks);
  if (in.head_dim != a.head_dim) out = out.narrow(-1, 0, a.head_dim).contiguous();
  return {out, lse};
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const KernelMask& mask,
                     const AttentionArgs& a, const SimOptions& o) {
  return std::get<0>(run(q, k, v, mask, a, at::Tensor(), false, o));
}

}  // namespace pasa::ascend_sim_backend

namespace {

at::Tensor sim_run(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
                   std::optional<double> scale, bool causal, c10::string_view causal_align, c10::string_view variant,
                   int64_t block_n, std::optional<double> beta, c10::string_view soc, int64_t core_num,
                   int64_t max_q_rows, int64_t sim_ub_bytes) {
  const auto args = pasa::check_attention_args(q, k, v, mask, scale, causal, std::string(causal_align),
                                               std::string(variant), block_n, beta);
  pasa::ascend_sim_backend::SimOptions o;
  o.soc = std::string(soc);
  o.core_num = core_num;
  o.max_q_rows = max_q_rows;
  o.sim_ub_bytes = sim_ub_bytes;
  return pasa::ascend_sim_backend::attention(q, k, v, pasa::kernel_mask(mask, args), args, o);
}

std::string sim_plan(int64_t b, int64_t n, int64_t nkv, int64_t s1, int64_t s2, int64_t d, c10::string_view variant,
                     bool causal, int64_t causal_offset, bool has_mask, int64_t block_n, double scale, double beta,
                     c10::string_view soc, int64_t core_num, int64_t max_q_rows) {
  pasa_tiling::Problem p;
  p.batch = b; p.heads = n; p.kvHeads = nkv; p.s1 = s1; p.s2 = s2; p.headDim = d;
  p.variant = variant == "exact" ? PASA_VARIANT_EXACT : variant == "pasa" ? PASA_VARIANT_PASA : PASA_VARIANT_PAPER;
  p.causal = causal;
  p.causalOffset = causal_offset;
  if (has_mask) {  // a bool mask with a row per query row (the most UB a mask takes)
    p.maskType = PASA_MASK_BOOL;
    p.maskRows = static_cast<uint32_t>(s1);
  }
  p.blockN = block_n;
  p.scale = scale;
  p.beta = beta;
  auto hw = pasa::ascend_sim_backend::platform(std::string(soc), core_num);
  return pasa::ascend_sim_backend::make_plan(p, hw, max_q_rows).Describe();
}

std::string sim_last_launch() {
  std::lock_guard<std::mutex> lock(pasa::ascend_sim_backend::last_launch_mu);
  return pasa::ascend_sim_backend::last_launch;
}

std::string sim_violation(c10::string_view which) {
  try {
    return ascend_sim::RunViolationKernel(std::string(which));
  } catch (const ascend_sim::SimError& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

}  // namespace

// Test hooks of the simulator backend (not part of pasa's public API).
TORCH_LIBRARY(pasa_ascend_sim, m) {
  m.def("run(Tensor q, Tensor k, Tensor v, Tensor? mask, float? scale, bool causal, str causal_align, str variant, "
        "int block_n, float? beta, str soc, int core_num, int max_q_rows, int sim_ub_bytes=0) -> Tensor");
  m.def("plan(int b, int n, int nkv, int s1, int s2, int d, str variant, bool causal, int causal_offset, "
        "bool has_mask, int block_n, float scale, float beta, str soc, int core_num, int max_q_rows) -> str");
  m.def("violation(str which) -> str");
  m.def("last_launch() -> str");
  m.impl("plan", &sim_plan);
  m.impl("last_launch", &sim_last_launch);
  m.impl("violation", &sim_violation);
}
TORCH_LIBRARY_IMPL(pasa_ascend_sim, CPU, m) { m.impl("run", &sim_run); }
