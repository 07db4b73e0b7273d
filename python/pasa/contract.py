"""Names and limits of the numerics contract (docs/numerics.md), shared by the API, the model and the tests."""

VARIANTS = ("exact", "pasa", "paper")        # PASA variants every backend implements
BASELINES = ("fa16", "fa32")                 # flash attention with fp16 / fp32 score tiles (model only)
DEFAULT_VARIANT = "exact"                    # most accurate in docs/numerics.md's table
DEFAULT_BLOCK_N = 128                        # KV block length n
BLOCK_N_MIN, BLOCK_N_MAX, BLOCK_N_MULTIPLE = 16, 1024, 16
FP16_MAX = 65504.0
QUERY_GROUP = 64                             # exact: query rows [64g, 64g + 64) share one query centre
BF16_SLICE_TOP = 8                           # exact, bf16 inputs: each slice's max |x| is scaled into [2^7, 2^8)
