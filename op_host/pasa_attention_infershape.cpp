// Shape and dtype inference of PasaAttention: out has q's shape [B, N, S1, D] and dtype fp16. (Through aclnn the
// caller's output tensor may be bf16 instead: the tiling reads the output's dtype from its description.)
#include "pasa_attention_host.h"

namespace pasa_host {

ge::graphStatus InferShape(gert::InferShapeContext* context) {
  const gert::Shape* q = context->GetInputShape(IN_Q);
  gert::Shape* out = context->GetOutputShape(0);
  if (q == nullptr || out == nullptr || q->GetDimNum() != 4) return ge::GRAPH_FAILED;
  *out = *q;
  return ge::GRAPH_SUCCESS;
}

ge::graphStatus InferDataType(gert::InferDataTypeContext* context) {
  return context->SetOutputDataType(0, ge::DT_FLOAT16);
}

}  // namespace pasa_host
