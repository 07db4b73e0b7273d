"""The AscendC simulator catches what the hardware would punish: each case runs a small kernel that breaks one
rule (csrc/ascend_sim/sim_violation_kernels.cpp) and checks the simulator's message."""
import pytest
import torch

import pasa  # noqa: F401

sim = torch.ops.pasa_ascend_sim

CASES = [
    ("ub_overflow", "UB capacity overflow"),
    ("l1_overflow", "L1 capacity overflow"),
    ("l0a_overflow", "L0A capacity overflow"),
    ("l0b_overflow", "L0B capacity overflow"),
    ("l0c_overflow", "L0C capacity overflow"),
    ("vector_op_on_cube", "runs on the Vector (AIV) core only"),
    ("flag_overflow", "set 16 times without a wait"),
    ("misaligned_copy", "is not 32-byte aligned"),
    ("short_copy", "not a multiple of 32 bytes"),
    ("unbalanced_queue", "unbalanced TQue at kernel end"),
    ("dequeue_empty", "DeQue on an empty queue"),
    ("double_free", "double free"),
    ("poison_read", "never written"),
    ("poison_mmad", "Mmad A (L0A): reads L0A bytes never written"),
    ("gemv_zz_a", "m = 1: GEMV mode reads A as K contiguous values"),
    ("pipe_m", "the PIPE_M rule: a K-accumulating Mmad after a Mmad with (m/16)·(n/16) < 10 needs PipeBarrier<PIPE_M>"),
    ("mte2_overlap", "overlapping PIPE_MTE2 destinations need PipeBarrier<PIPE_MTE2>"),
    ("mte3_overlap", "overlapping PIPE_MTE3 destinations need PipeBarrier<PIPE_MTE3>"),
    ("v_to_s", "no PIPE_V -> PIPE_S synchronisation"),
    ("s_to_v", "no PIPE_S -> PIPE_V synchronisation"),
    ("v_to_v", "dependent vector instructions need PipeBarrier<PIPE_V>"),
    ("v_to_mte3", "no PIPE_V -> PIPE_MTE3 synchronisation"),
    ("mte2_to_v", "no PIPE_MTE2 -> PIPE_V synchronisation"),
    ("fix_to_mte2", "no PIPE_FIX -> PIPE_MTE2 synchronisation"),
    ("cross_core_wrong_pipe", "on the AIV sub-block 0) wrote before, with no PIPE_MTE3 -> PIPE_MTE2 synchronisation"),
    ("event_budget", "event-ID budget: all 8 IDs of HardEvent V_MTE2 are held"),
    ("double_set_flag", "SetFlag<V_S>(0) twice with no WaitFlag in between"),
    ("wait_without_set", "WaitFlag<S_V>(1) with no SetFlag<S_V>(1) before it"),
    ("flag_never_waited", "SetFlag<MTE2_V>(2) still set at kernel end"),
    ("event_on_wrong_core", "SetFlag<M_MTE1>: PIPE_M takes no part in the AIV's intra-core synchronisation"),
    ("deadlock", "deadlock"),
]


@pytest.mark.parametrize("case, message", CASES, ids=[c for c, _ in CASES])
def test_simulator_catches(case, message):
    caught = sim.violation(case)
    print(caught)
    assert message in caught


def test_reduce_sum_adds_repeats_in_order():
    # Atlas A2, count form: a tree within each 256-byte repeat, the repeats' sums one after another (ReduceSum.md);
    # first elements 2^24, 1, 1, -2^24: in order ((2^24 + 1) + 1) - 2^24 = 0, pairwise across repeats 1
    assert sim.violation("reduce_sum_order") == "ReduceSum over 4 repeats = 0"


def test_a_clean_kernel_raises_nothing():
    assert sim.violation("ok") == ""


def test_the_kernels_own_buffers_overflow_a_smaller_ub():
    # the tiling plans for 192 KiB of UB; the simulated cores get 64 KiB: the kernel's InitBuffer must overflow
    q = torch.zeros(1, 2, 128, 128, dtype=torch.float16)
    with pytest.raises(RuntimeError, match="ascend_sim: AIV .*UB capacity overflow.*capacity 65536"):
        sim.run(q, q, q, None, None, False, "top_left", "exact", 128, None, "Ascend910B2", 0, 128, 64 * 1024)
