// Shape and dtype inference of PasaAttention: out has q's shape ([B, N, S1, D] or packed [Tq, N, D]) and dtype fp16
// (through aclnn the caller's output tensor may be bf16 instead: the tiling reads the output's dtype from its
// description); lse fp32 [B, N, S1] or [N, Tq] (written when return_lse).
#include "pasa_attention_host.h"

namespace pasa_host {

ge::graphStatus InferShape(gert::InferShapeContext* context) {
  const gert::Shape* q = context->GetInputShape(IN_Q);
  gert::Shape* out = context->GetOutputShape(OUT_OUT);
  gert::Shape* lse = context->GetOutputShape(OUT_LSE);
  if (q == nullptr || out == nullptr || lse == nullptr || (q->GetDimNum() != 4 && q->GetDimNum() != 3))
    return ge::GRAPH_FAILED;
  *out = *q;
  if (q->GetDimNum() == 4) {
    lse->SetDimNum(3);
    lse->SetDim(0, q->GetDim(0));
    lse->SetDim(1, q->GetDim(1));
    lse->SetDim(2, q->GetDim(2));
  } else {
    lse->SetDimNum(2);
    lse->SetDim(0, q->GetDim(1));
    lse->SetDim(1, q->GetDim(0));
  }
  return ge::GRAPH_SUCCESS;
}

ge::graphStatus InferDataType(gert::InferDataTypeContext* context) {
  if (context->SetOutputDataType(OUT_OUT, ge::DT_FLOAT16) != ge::GRAPH_SUCCESS) return ge::GRAPH_FAILED;
  return context->SetOutputDataType(OUT_LSE, ge::DT_FLOAT);
}

}  // namespace pasa_host
