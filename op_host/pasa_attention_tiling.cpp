// The CANN tiling function of PasaAttention, in stages: platform figures (PlatformAscendC) -> shapes and
// attributes (BNSD, or TND with the sequence starts read from the value-dependent cu_seqlens inputs) -> the plain
// C++ plan (pasa_attention_tiling_plan.cpp) -> tiling data, block dim, workspace.
#include <string>
#include <vector>

#include "pasa_attention_host.h"
#include "pasa_attention_tiling_plan.h"
#include "tiling/platform/platform_ascendc.h"

namespace pasa_host {
namespace {

PasaVariant VariantOf(const char* name) {
  const std::string v = name == nullptr ? "exact" : name;
  if (v == "pasa") return PASA_VARIANT_PASA;
  if (v == "paper") return PASA_VARIANT_PAPER;
  return PASA_VARIANT_EXACT;
}

PasaMaskType MaskTypeOf(ge::DataType t) {
  switch (t) {
    case ge::DT_BOOL: return PASA_MASK_BOOL;
    case ge::DT_FLOAT16: return PASA_MASK_FP16;
    case ge::DT_BF16: return PASA_MASK_BF16;
    case ge::DT_FLOAT: return PASA_MASK_FP32;
    default: return PASA_MASK_NONE;
  }
}

// A packed call's sequence starts (cu_seqlens, int64 [B + 1]) from the host copy of a value-dependent input: from 0
// to `total` (the token count of q or k); the plan checks that they do not decrease.
bool SequenceStarts(const gert::Tensor* cu, int64_t total, std::vector<int64_t>* starts) {
  if (cu == nullptr || cu->GetDataType() != ge::DT_INT64 || cu->GetShapeSize() < 2) return false;
  const int64_t* data = cu->GetData<int64_t>();
  if (data == nullptr) return false;
  starts->assign(data, data + cu->GetShapeSize());
  return starts->back() == total;
}

}  // namespace

ge::graphStatus Tiling(gert::TilingContext* context) {
  // stage 1: the SoC's figures
  auto ascendc = platform_ascendc::PlatformAscendC(context->GetPlatformInfo());
  pasa_tiling::Platform hw;
  hw.soc = "ascend910b";
  hw.aicNum = ascendc.GetCoreNumAic();
  hw.aivNum = ascendc.GetCoreNumAiv();
  ascendc.GetCoreMemSize(platform_ascendc::CoreMemType::UB, hw.ub);
  ascendc.GetCoreMemSize(platform_ascendc::CoreMemType::L1, hw.l1);
  ascendc.GetCoreMemSize(platform_ascendc::CoreMemType::L0_A, hw.l0a);
  ascendc.GetCoreMemSize(platform_ascendc::CoreMemType::L0_B, hw.l0b);
  ascendc.GetCoreMemSize(platform_ascendc::CoreMemType::L0_C, hw.l0c);

  // stage 2: shapes and attributes
  const gert::StorageShape* q = context->GetInputShape(IN_Q);
  const gert::StorageShape* k = context->GetInputShape(IN_K);
  const gert::RuntimeAttrs* attrs = context->GetAttrs();
  if (q == nullptr || k == nullptr || attrs == nullptr) return ge::GRAPH_FAILED;
  const gert::Shape& qs = q->GetStorageShape();
  const gert::Shape& ks = k->GetStorageShape();
  const bool packed = qs.GetDimNum() == 3;
  if (qs.GetDimNum() != (packed ? 3 : 4) || ks.GetDimNum() != qs.GetDimNum()) return ge::GRAPH_FAILED;
  pasa_tiling::Problem p;
  if (packed) {  // TND: the sequences from cu_seqlens_q/k (value-dependent inputs: the tiling sees their host copy)
    if (!SequenceStarts(context->GetOptionalInputTensor(IN_CU_SEQLENS_Q), qs.GetDim(0), &p.cuQ) ||
        !SequenceStarts(context->GetOptionalInputTensor(IN_CU_SEQLENS_K), ks.GetDim(0), &p.cuK) ||
        p.cuQ.size() != p.cuK.size())
      return ge::GRAPH_FAILED;
    p.layout = PASA_LAYOUT_TND;
    p.batch = static_cast<uint32_t>(p.cuQ.size() - 1);
    p.heads = static_cast<uint32_t>(qs.GetDim(1));
    p.headDim = static_cast<uint32_t>(qs.GetDim(2));
    p.kvHeads = static_cast<uint32_t>(ks.GetDim(1));
  } else {
    p.batch = static_cast<uint32_t>(qs.GetDim(0));
    p.heads = static_cast<uint32_t>(qs.GetDim(1));
    p.s1 = static_cast<uint32_t>(qs.GetDim(2));
    p.headDim = static_cast<uint32_t>(qs.GetDim(3));
    p.kvHeads = static_cast<uint32_t>(ks.GetDim(1));
    p.s2 = static_cast<uint32_t>(ks.GetDim(2));
  }
  const gert::StorageShape* sinks = context->GetOptionalInputShape(IN_SINKS);
  if (sinks != nullptr) {  // [N] fp32
    const gert::Shape& ss = sinks->GetStorageShape();
    if (ss.GetDimNum() != 1 || ss.GetDim(0) != qs.GetDim(1)) return ge::GRAPH_FAILED;
    p.sinks = true;
  }
  const gert::StorageShape* mask = context->GetOptionalInputShape(IN_MASK);
  if (mask != nullptr) {  // read as passed: (B or 1, N or 1, S1 or 1, S2), bool / fp16 / bf16 / fp32
    const gert::Shape& ms = mask->GetStorageShape();
    const gert::CompileTimeTensorDesc* md = context->GetOptionalInputDesc(IN_MASK);
    if (packed || ms.GetDimNum() != 4 || md == nullptr || ms.GetDim(3) != p.s2) return ge::GRAPH_FAILED;
    p.maskType = MaskTypeOf(md->GetDataType());
    if (p.maskType == PASA_MASK_NONE) return ge::GRAPH_FAILED;
    p.maskBatch = static_cast<uint32_t>(ms.GetDim(0));
    p.maskHeads = static_cast<uint32_t>(ms.GetDim(1));
    p.maskRows = static_cast<uint32_t>(ms.GetDim(2));
  }
  // exact: the live keys [B, Nkv, S2] and the per-head scales [B, N, 3], where the bindings pass them
  const gert::StorageShape* live = context->GetOptionalInputShape(IN_LIVE_KEYS);
  if (live != nullptr) {
    const gert::Shape& ls = live->GetStorageShape();
    if (packed || ls.GetDimNum() != 3 || ls.GetDim(0) != p.batch || ls.GetDim(1) != p.kvHeads || ls.GetDim(2) != p.s2)
      return ge::GRAPH_FAILED;
    p.liveKeys = true;
  }
  const gert::StorageShape* scales = context->GetOptionalInputShape(IN_HEAD_SCALES);
  if (scales != nullptr) {
    const gert::Shape& ss = scales->GetStorageShape();
    if (ss.GetDimNum() != 3 || ss.GetDim(0) != p.batch || ss.GetDim(1) != p.heads || ss.GetDim(2) != 3)
      return ge::GRAPH_FAILED;
    p.headScales = true;
  }
  const gert::CompileTimeTensorDesc* out = context->GetOutputDesc(0);
  if (out == nullptr) return ge::GRAPH_FAILED;
  p.outType = out->GetDataType() == ge::DT_BF16 ? PASA_OUT_BF16 : PASA_OUT_FP16;
  const float* scale = attrs->GetFloat(ATTR_SCALE);
  const bool* causal = attrs->GetBool(ATTR_CAUSAL);
  const int64_t* offset = attrs->GetInt(ATTR_CAUSAL_OFFSET);
  const int64_t* blockN = attrs->GetInt(ATTR_BLOCK_N);
  const float* beta = attrs->GetFloat(ATTR_BETA);
  const bool* bottomRight = attrs->GetBool(ATTR_BOTTOM_RIGHT);
  const bool* returnLse = attrs->GetBool(ATTR_RETURN_LSE);
  p.scale = scale ? *scale : 0.0;
  p.causal = causal ? *causal : false;
  p.causalOffset = offset ? *offset : 0;
  p.variant = VariantOf(attrs->GetStr(ATTR_VARIANT));
  p.blockN = blockN ? static_cast<uint32_t>(*blockN) : 128;
  p.beta = beta ? *beta : 1.0;
  p.bottomRight = bottomRight ? *bottomRight : false;
  p.returnLse = returnLse ? *returnLse : false;

  // stages 3-5: block sizes, work split and workspace (plain C++, unit-tested on the host)
  pasa_tiling::Plan plan;
  try {
    plan = pasa_tiling::MakePlan(p, hw);
  } catch (const pasa_tiling::TilingError&) {
    return ge::GRAPH_FAILED;
  }
  // the struct the kernel registers (REGISTER_TILING_DEFAULT); null when the capacity is below its size
  PasaAttentionTilingData* tiling = context->GetTilingData<PasaAttentionTilingData>();
  if (tiling == nullptr) return ge::GRAPH_FAILED;
  *tiling = plan.data;
  context->SetBlockDim(plan.blockDim);
  // The kernel has no TILING_KEY_IS, so CANN compiles it for tiling key 0 only (tikcpp/compile_op.py:
  // DEFAULT_TILING_KEY); a launch with any other key finds no kernel entry.
  context->SetTilingKey(0);
  size_t* workspace = context->GetWorkspaceSizes(1);
  if (workspace == nullptr) return ge::GRAPH_FAILED;
  workspace[0] = plan.workspaceBytes + ascendc.GetLibApiWorkSpaceSize();
  return ge::GRAPH_SUCCESS;
}

}  // namespace pasa_host
