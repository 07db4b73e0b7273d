// The simulator's stand-in for AscendC's kernel_operator.h: the kernel source includes "kernel_operator.h" and
// compiles unchanged against either the real CANN headers or this CPU implementation of the subset it uses.
#pragma once

#include "sim_half.h"
#include "sim_ops.h"
#include "sim_runtime.h"
#include "sim_tensor.h"
