// Host-side functions of the PasaAttention custom op (CANN): shape and dtype inference, tiling.
#pragma once

#include "exe_graph/runtime/infer_datatype_context.h"
#include "exe_graph/runtime/infer_shape_context.h"
#include "exe_graph/runtime/tiling_context.h"
#include "graph/ge_error_codes.h"

namespace pasa_host {

// Attribute order of the op (pasa_attention_def.cpp): scale, causal, causal_offset, variant, block_n, beta,
// bottom_right, return_lse.
enum AttrIndex : size_t { ATTR_SCALE = 0, ATTR_CAUSAL, ATTR_CAUSAL_OFFSET, ATTR_VARIANT, ATTR_BLOCK_N, ATTR_BETA,
                          ATTR_BOTTOM_RIGHT, ATTR_RETURN_LSE };
// Input order: q, k, v, then the optional mask, live_keys, head_scales, sinks, cu_seqlens_q, cu_seqlens_k (the order
// of the kernel entry's arguments, op_kernel/pasa_attention.cpp). Outputs: out, lse.
enum InputIndex : size_t { IN_Q = 0, IN_K, IN_V, IN_MASK, IN_LIVE_KEYS, IN_HEAD_SCALES, IN_SINKS, IN_CU_SEQLENS_Q,
                           IN_CU_SEQLENS_K };
enum OutputIndex : size_t { OUT_OUT = 0, OUT_LSE };

ge::graphStatus InferShape(gert::InferShapeContext* context);
ge::graphStatus InferDataType(gert::InferDataTypeContext* context);
ge::graphStatus Tiling(gert::TilingContext* context);

}  // namespace pasa_host
