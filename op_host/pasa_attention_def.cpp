// OpDef of PasaAttention: q, k, v fp16 BNSD (ND format), an optional fp32 additive bias [B, N, S1, S2],
// output fp32 [B, N, S1, D]; attributes as pasa::attention's schema resolves them. Atlas A2 (ascend910b).
#include "pasa_attention_host.h"
#include "register/op_def_registry.h"

namespace ops {

class PasaAttention : public OpDef {
 public:
  explicit PasaAttention(const char* name) : OpDef(name) {
    this->Input("q").ParamType(REQUIRED).DataType({ge::DT_FLOAT16}).Format({ge::FORMAT_ND});
    this->Input("k").ParamType(REQUIRED).DataType({ge::DT_FLOAT16}).Format({ge::FORMAT_ND});
    this->Input("v").ParamType(REQUIRED).DataType({ge::DT_FLOAT16}).Format({ge::FORMAT_ND});
    this->Input("bias").ParamType(OPTIONAL).DataType({ge::DT_FLOAT}).Format({ge::FORMAT_ND});
    this->Output("out").ParamType(REQUIRED).DataType({ge::DT_FLOAT}).Format({ge::FORMAT_ND});
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
