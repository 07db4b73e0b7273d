// OpDef of PasaAttention: q, k, v fp16 BNSD (ND format); an optional mask [B or 1, N or 1, S1 or 1, S2] read as
// passed (bool: False hides a key; fp16/bf16/fp32: added to the score, −inf hides a key); for the exact variant the
// optional live keys [B, Nkv, S2] (bool: the keys some row of some head of the group sees; given with a mask) and
// per-head scales [B, N, 3] (fp32: s_h, s_rest_h, 2^εv; given for bf16 inputs), both prepared by the bindings
// (csrc/ascend_inputs.h); output [B, N, S1, D] in fp16 or bf16 (the caller's output tensor decides; the bindings
// convert bf16 inputs to fp16). Attributes as pasa::attention's schema resolves them. Atlas A2 (ascend910b). Each
// column of the dtype lists is one combination.
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
    this->Output("out")
        .ParamType(REQUIRED)
        .DataType({ge::DT_FLOAT16, ge::DT_FLOAT16, ge::DT_FLOAT16, ge::DT_FLOAT16, ge::DT_BF16, ge::DT_BF16, ge::DT_BF16,
                   ge::DT_BF16})
        .Format(nd8);
    this->Attr("scale").AttrType(REQUIRED).Float();
    this->Attr("causal").AttrType(OPTIONAL).Bool(false);
    this->Attr("causal_offset").AttrType(OPTIONAL).Int(0);
    this->Attr("variant").AttrType(OPTIONAL).String("exact");
    this->Attr("block_n").AttrType(OPTIONAL).Int(128);
    this->Attr("beta").AttrType(OPTIONAL).Float(1.0f);
    this->SetInferShape(pasa_host::InferShape).SetInferDataType(pasa_host::InferDataType);
    this->AICore().SetTiling(pasa_host::Tiling);
    this->AICore().AddConfig("ascend910b");
  }
};

OP_ADD(PasaAttention);

}  // namespace ops
