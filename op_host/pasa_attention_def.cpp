// OpDef of PasaAttention: q, k, v fp16, BNSD ([B, N, S1, D], [B, Nkv, S2, D]) or packed sequences TND ([Tq, N, D],
// [Tk, Nkv, D]) with cu_seqlens_q/k [B + 1] int64 (flash-attn's cumulative starts; value-dependent: the tiling reads
// them on the host to build the task list, the kernel reads them from GM); an optional mask [B or 1, N or 1, S1 or 1,
// S2] read as passed (BNSD only; bool: False hides a key; fp16/bf16/fp32: added to the score, −inf hides a key); for
// the exact variant the optional live keys [B, Nkv, S2] (bool: the keys some row of some head of the group sees;
// given with a mask) and per-head scales [B, N, 3] (fp32: s_h, s_rest_h, 2^εv; given for bf16 inputs), both
// prepared by the bindings (csrc/ascend_inputs.h); optional sinks [N] fp32 (a per-head logit joining every row's
// normaliser). Outputs: out with q's shape in fp16 or bf16 (the caller's output tensor decides; the bindings convert
// bf16 inputs to fp16) and lse fp32, [B, N, S1] or [N, Tq], written when return_lse. Attributes as
// pasa::attention's schema resolves them; bottom_right: the causal offset of each packed sequence is its S2 − S1
// (BNSD calls pass causal_offset). Atlas A2 (ascend910b). Each column of the dtype lists is one combination.
#include <vector>

#include "pasa_attention_host.h"
#include "register/op_def_registry.h"

namespace ops {

class PasaAttention : public OpDef {
 public:
  explicit PasaAttention(const char* name) : OpDef(name) {
    // 4 mask dtypes x 2 output dtypes
    const std::vector<ge::DataType> half8(8, ge::DT_FLOAT16);
    const std::vector<ge::Format> nd8(8, ge::FORMAT_ND);
    this->Input("q").ParamType(REQUIRED).DataType(half8).Format(nd8);
    this->Input("k").ParamType(REQUIRED).DataType(half8).Format(nd8);
    this->Input("v").ParamType(REQUIRED).DataType(half8).Format(nd8);
    this->Input("mask")
        .ParamType(OPTIONAL)
        .DataType({ge::DT_BOOL, ge::DT_FLOAT16, ge::DT_BF16, ge::DT_FLOAT, ge::DT_BOOL, ge::DT_FLOAT16, ge::DT_BF16,
                   ge::DT_FLOAT})
        .Format(nd8);
    this->Input("live_keys").ParamType(OPTIONAL).DataType(std::vector<ge::DataType>(8, ge::DT_BOOL)).Format(nd8);
    this->Input("head_scales").ParamType(OPTIONAL).DataType(std::vector<ge::DataType>(8, ge::DT_FLOAT)).Format(nd8);
    this->Input("sinks").ParamType(OPTIONAL).DataType(std::vector<ge::DataType>(8, ge::DT_FLOAT)).Format(nd8);
    for (const char* cu : {"cu_seqlens_q", "cu_seqlens_k"})
      this->Input(cu).ParamType(OPTIONAL).ValueDepend(OPTIONAL).DataType(std::vector<ge::DataType>(8, ge::DT_INT64))
          .Format(nd8);
    this->Output("out")
        .ParamType(REQUIRED)
        .DataType({ge::DT_FLOAT16, ge::DT_FLOAT16, ge::DT_FLOAT16, ge::DT_FLOAT16, ge::DT_BF16, ge::DT_BF16, ge::DT_BF16,
                   ge::DT_BF16})
        .Format(nd8);
    this->Output("lse").ParamType(REQUIRED).DataType(std::vector<ge::DataType>(8, ge::DT_FLOAT)).Format(nd8);
    this->Attr("scale").AttrType(REQUIRED).Float();
    this->Attr("causal").AttrType(OPTIONAL).Bool(false);
    this->Attr("causal_offset").AttrType(OPTIONAL).Int(0);
    this->Attr("variant").AttrType(OPTIONAL).String("exact");
    this->Attr("block_n").AttrType(OPTIONAL).Int(128);
    this->Attr("beta").AttrType(OPTIONAL).Float(1.0f);
    this->Attr("bottom_right").AttrType(OPTIONAL).Bool(false);
    this->Attr("return_lse").AttrType(OPTIONAL).Bool(false);
    this->SetInferShape(pasa_host::InferShape).SetInferDataType(pasa_host::InferDataType);
    this->AICore().SetTiling(pasa_host::Tiling);
    this->AICore().AddConfig("ascend910b");
  }
};

OP_ADD(PasaAttention);

}  // namespace ops
