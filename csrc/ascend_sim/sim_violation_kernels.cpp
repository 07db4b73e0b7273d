// Kernels that break one rule each, to show the simulator catches what the hardware would punish.
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "kernel_operator.h"
#include "pasa_attention_sim.h"

using namespace AscendC;

namespace ascend_sim {
namespace {

void UbOverflow() {
  if ASCEND_IS_AIC { return; }
  TPipe pipe;
  TQue<TPosition::VECIN, 1> a;
  TBuf<TPosition::VECCALC> b;
  pipe.InitBuffer(a, 2, 64 * 1024);
  pipe.InitBuffer(b, 65 * 1024);  // 128 + 65 KiB > 192 KiB
}

void CubeOverflow(TPosition pos) {
  if ASCEND_IS_AIV { return; }
  TPipe pipe;
  TBuf<TPosition::A1> l1;
  TQue<TPosition::A2, 1> l0a;
  TQue<TPosition::B2, 1> l0b;
  TQue<TPosition::CO1, 1> l0c;
  if (pos == TPosition::A1) pipe.InitBuffer(l1, 513 * 1024);
  if (pos == TPosition::A2) pipe.InitBuffer(l0a, 2, 33 * 1024);
  if (pos == TPosition::B2) pipe.InitBuffer(l0b, 1, 65 * 1024);
  if (pos == TPosition::CO1) pipe.InitBuffer(l0c, 1, 129 * 1024);
}

void Copy(bool misaligned) {
  if ASCEND_IS_AIC { return; }
  std::vector<half> gm(256, half(1.0f));
  GlobalTensor<half> g;
  g.SetGlobalBuffer(gm.data(), gm.size());
  TPipe pipe;
  TBuf<TPosition::VECCALC> b;
  pipe.InitBuffer(b, 1024);
  LocalTensor<half> t = b.Get<half>();
  if (misaligned) DataCopy(t[8], g, 64);  // UB address 16 bytes in
  else DataCopy(t, g, 40);                // 80 bytes: not whole 32-byte blocks
}

void Queue(int mode) {
  if ASCEND_IS_AIC { return; }
  TPipe pipe;
  TQue<TPosition::VECIN, 1> q;
  pipe.InitBuffer(q, 2, 1024);
  if (mode == 0) {  // allocate and enqueue, never dequeue/free
    LocalTensor<float> t = q.AllocTensor<float>();
    Duplicate(t, 0.0f, 8);
    q.EnQue(t);
  } else if (mode == 1) {
    LocalTensor<float> t = q.DeQue<float>();
    (void)t;
  } else {
    LocalTensor<float> t = q.AllocTensor<float>();
    q.FreeTensor(t);
    q.FreeTensor(t);
  }
}

void PoisonRead() {
  if ASCEND_IS_AIC { return; }
  TPipe pipe;
  TBuf<TPosition::VECCALC> b;
  pipe.InitBuffer(b, 1024);
  LocalTensor<float> t = b.Get<float>();
  Duplicate(t, 1.0f, 64);
  Exp(t, t, 128);  // elements 64..127 were never written
}

// L0A, L0B and L0C queues of one buffer each, for the Cube kernels below: A and B of `fractals` 16x16 fp16 fractals.
struct CubeQueues {
  TQue<TPosition::A2, 1> a;
  TQue<TPosition::B2, 1> b;
  TQue<TPosition::CO1, 1> c;
  CubeQueues(TPipe& pipe, uint32_t fractals) {
    pipe.InitBuffer(a, 1, fractals * 512);
    pipe.InitBuffer(b, 1, fractals * 512);
    pipe.InitBuffer(c, 1, 1024);
  }
};

void PoisonMmad() {
  if ASCEND_IS_AIV { return; }
  TPipe pipe;
  CubeQueues q(pipe, 1);
  LocalTensor<half> ta = q.a.AllocTensor<half>(), tb = q.b.AllocTensor<half>();
  LocalTensor<float> tc = q.c.AllocTensor<float>();
  Mmad(tc, ta, tb, MmadParams(16, 16, 16, 0, false, true));  // L0A/L0B never loaded
  q.a.FreeTensor(ta);
  q.b.FreeTensor(tb);
  q.c.FreeTensor(tc);
}

// Mmad with m = 1 on A laid out as ZZ fractals (as for m = 16): GEMV reads A(0, k) at offset k, which for k >= 16
// is row k/16 of the first fractal, never written.
void GemvOnZzA() {
  if ASCEND_IS_AIV { return; }
  std::vector<half> gm(32, half(1.0f));
  GlobalTensor<half> g;
  g.SetGlobalBuffer(gm.data(), gm.size());
  TPipe pipe;
  TQue<TPosition::A1, 1> l1;
  pipe.InitBuffer(l1, 1, 1024);
  CubeQueues q(pipe, 2);
  TQue<TPosition::A2, 1>& a = q.a;
  TQue<TPosition::B2, 1>& b = q.b;
  TQue<TPosition::CO1, 1>& c = q.c;
  LocalTensor<half> t1 = l1.AllocTensor<half>();
  DataCopy(t1, g, Nd2NzParams(1, 1, 32, 0, 32, 16, 1, 0));  // 1 x 32 -> row 0 of two NZ fractals
  l1.EnQue(t1);
  t1 = l1.DeQue<half>();
  LocalTensor<half> ta = a.AllocTensor<half>();
  LoadData(ta, t1, LoadData2DParams(0, 2, 1, 0, 0, false, 0));  // ZZ: fractals (0, 0) and (0, 1)
  a.EnQue(ta);
  ta = a.DeQue<half>();
  LocalTensor<half> tb = b.AllocTensor<half>();
  InitConstValue(tb, InitConstValueParams<half>(1, 2, 0, half(1.0f)));  // B: two 16x16 fractals of ones
  b.EnQue(tb);
  tb = b.DeQue<half>();
  LocalTensor<float> tc = c.AllocTensor<float>();
  Mmad(tc, ta, tb, MmadParams(1, 16, 32, 0, false, true));
  l1.FreeTensor(t1);
  a.FreeTensor(ta);
  b.FreeTensor(tb);
  c.FreeTensor(tc);
}

// 64-byte aligned GM for the kernels below (GM hazards are tracked per 32-byte block)
template <class T = float>
struct Gm {
  std::vector<T> v = std::vector<T>(1024 + 64 / sizeof(T), T(1.0f));
  T* p() { return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(v.data()) + 63) / 64 * 64); }
};

// CubeQueues with A and B filled with ones (MTE1) and handed to PIPE_M (EnQue/DeQue), and an L0C buffer.
struct CubeOperands : CubeQueues {
  LocalTensor<half> ta, tb;
  LocalTensor<float> tc;
  CubeOperands(TPipe& pipe, uint16_t fractals) : CubeQueues(pipe, fractals) {
    ta = a.AllocTensor<half>();
    tb = b.AllocTensor<half>();
    InitConstValue(ta, InitConstValueParams<half>(1, fractals, 0, half(1.0f)));
    InitConstValue(tb, InitConstValueParams<half>(1, fractals, 0, half(1.0f)));
    a.EnQue(ta);
    b.EnQue(tb);
    ta = a.DeQue<half>();
    tb = b.DeQue<half>();
    tc = c.AllocTensor<float>();
  }
  void Free() {
    a.FreeTensor(ta);
    b.FreeTensor(tb);
    c.FreeTensor(tc);
  }
};

// Two Mmads accumulating along K into one L0C tile with (m/16)·(n/16) = 1 < 10 and no PipeBarrier<PIPE_M>.
void AccumulateWithoutPipeM() {
  if ASCEND_IS_AIV { return; }
  TPipe pipe;
  CubeOperands op(pipe, 2);
  Mmad(op.tc, op.ta, op.tb, MmadParams(16, 16, 16, 0, false, true));
  Mmad(op.tc, op.ta[256], op.tb[256], MmadParams(16, 16, 16, 0, false, false));  // the second K slice: accumulate
  op.Free();
}

// ---- intra-core synchronisation (sim_sync.h): each kernel leaves out exactly one sync the rule asks for ----


template <class F>
void OnAiv(F body) {
  if ASCEND_IS_AIC { return; }
  if (GetSubBlockIdx() != 0) return;
  body();
}

// One producer/consumer pair on one AIV without the synchronisation between their pipes, or two transfers of one
// DMA pipe into overlapping destinations without PipeBarrier.
void MissingSync(const std::string& which) {
  OnAiv([&which] {
    Gm<> gm;
    GlobalTensor<float> g;
    g.SetGlobalBuffer(gm.p(), 1024);
    TPipe pipe;
    TBuf<TPosition::VECCALC> b;
    pipe.InitBuffer(b, 1024);
    LocalTensor<float> t = b.Get<float>(), u = t[128];
    if (which == "v_to_s") {  // the scalar unit reads a vector result
      Duplicate(t, 1.0f, 64);
      (void)t.GetValue(3);
    } else if (which == "s_to_v") {  // a vector instruction reads what the scalar unit stored
      Duplicate(t, 1.0f, 64);
      TEventID ev = pipe.FetchEventID<HardEvent::V_S>();
      SetFlag<HardEvent::V_S>(ev);
      WaitFlag<HardEvent::V_S>(ev);
      t.SetValue(3, 5.0f);
      Exp(u, t, 64);
    } else if (which == "v_to_v") {  // a vector instruction reads the previous one's result
      Duplicate(t, 1.0f, 64);
      PipeBarrier<PIPE_V>();
      Adds(u, t, 1.0f, 64);
      Muls(t, u, 2.0f, 64);
    } else if (which == "v_to_mte3") {  // MTE3 copies out a vector result (a TBuf: no TQue to order them)
      Duplicate(t, 1.0f, 64);
      DataCopy(g, t, 64);
    } else if (which == "mte2_to_v") {  // a vector instruction reads what MTE2 copied in
      DataCopy(t, g, 64);
      Exp(u, t, 64);
    } else if (which == "mte2_overlap") {  // two GM -> UB transfers into overlapping UB
      DataCopy(t, g, 64);
      DataCopy(t[32], g[512], 64);
    } else if (which == "mte3_overlap") {  // two UB -> GM transfers into overlapping GM
      Duplicate(t, 2.0f, 128);
      TEventID ev = pipe.FetchEventID<HardEvent::V_MTE3>();
      SetFlag<HardEvent::V_MTE3>(ev);
      WaitFlag<HardEvent::V_MTE3>(ev);
      DataCopy(g, t, 64);
      DataCopy(g[32], t[64], 64);
    }
  });
}

// AIC: Fixpipe writes GM, then DataCopy (MTE2) reads it back into L1 without FIX_MTE2.
void FixToMte2() {
  if ASCEND_IS_AIV { return; }
  Gm<half> gm;
  GlobalTensor<half> g;
  g.SetGlobalBuffer(gm.p(), 1024);
  TPipe pipe;
  TQue<TPosition::B1, 1> l1;
  pipe.InitBuffer(l1, 1, 512);
  CubeOperands op(pipe, 1);
  Mmad(op.tc, op.ta, op.tb, MmadParams(16, 16, 16, 0, false, true));
  op.c.EnQue(op.tc);
  op.tc = op.c.DeQue<float>();
  FixpipeParamsV220 fp(16, 16, 16, 16, false);
  fp.quantPre = QuantMode_t::F322F16;
  Fixpipe(g, op.tc, fp);
  LocalTensor<half> t1 = l1.AllocTensor<half>();
  DataCopy(t1, g, Nd2NzParams(1, 16, 16, 0, 16, 16, 1, 0));
  l1.EnQue(t1);
  t1 = l1.DeQue<half>();
  l1.FreeTensor(t1);
  op.Free();
}

// AIV 0 writes GM through MTE3 but sets the cross-core flag on PIPE_V, which does not wait for MTE3; the AIC's
// MTE2 then reads what may not have landed.
void CrossCoreWrongPipe() {
  static Gm<> gm;  // shared by the group's three cores
  GlobalTensor<float> g;
  g.SetGlobalBuffer(gm.p(), 1024);
  if ASCEND_IS_AIV {
    TPipe pipe;
    TQue<TPosition::VECOUT, 1> q;  // (destroyed after the set: its end-of-kernel wait would order V after MTE3)
    if (GetSubBlockIdx() == 0) {
      pipe.InitBuffer(q, 1, 256);
      LocalTensor<float> t = q.AllocTensor<float>();
      Duplicate(t, 3.0f, 64);
      q.EnQue(t);
      t = q.DeQue<float>();
      DataCopy(g, t, 64);
      q.FreeTensor(t);
    }
    CrossCoreSetFlag<2, PIPE_V>(5);
  } else {
    TPipe pipe;
    TQue<TPosition::B1, 1> l1;
    pipe.InitBuffer(l1, 1, 512);
    CrossCoreWaitFlag(5);
    LocalTensor<float> t = l1.AllocTensor<float>();
    DataCopy(t, g, Nd2NzParams(1, 8, 8, 0, 8, 8, 1, 0));
    l1.EnQue(t);
    t = l1.DeQue<float>();
    l1.FreeTensor(t);
  }
}

// The event-ID pool of one HardEvent has 8 IDs: a ninth AllocEventID<V_MTE2> finds none.
void EventBudget() {
  OnAiv([] {
    TPipe pipe;
    for (int i = 0; i < 9; ++i) (void)pipe.AllocEventID<HardEvent::V_MTE2>();
  });
}

void FlagMisuse(int mode) {
  OnAiv([mode] {
    TPipe pipe;
    if (mode == 0) {  // SetFlag twice on one ID
      SetFlag<HardEvent::V_S>(0);
      SetFlag<HardEvent::V_S>(0);
    } else if (mode == 1) {  // WaitFlag with nothing set: the pipe hangs
      WaitFlag<HardEvent::S_V>(1);
    } else if (mode == 2) {  // SetFlag that nobody waits for
      SetFlag<HardEvent::MTE2_V>(2);
    } else {  // an AIC event on an AIV
      SetFlag<HardEvent::M_MTE1>(0);
    }
  });
}

// ReduceSum over 4 repeats of 64 fp32 whose first elements are 2^24, 1, 1, -2^24 (the rest 0): in order (A2, count
// form: repeats added one after another, ReduceSum.md 方式一) that is ((2^24 + 1) + 1) - 2^24 = 0, pairwise it
// would be (2^24 + 1) + (1 - 2^24) = 1. Reports the result as a message.
std::string reduce_sum_result;
void ReduceSumOrder() {
  OnAiv([] {
    TPipe pipe;
    TBuf<TPosition::VECCALC> b;
    pipe.InitBuffer(b, 2048);
    LocalTensor<float> t = b.Get<float>(), d = t[256], w = t[264];
    Duplicate(t, 0.0f, 256);
    TEventID ev = pipe.FetchEventID<HardEvent::V_S>();
    SetFlag<HardEvent::V_S>(ev);
    WaitFlag<HardEvent::V_S>(ev);
    const float first[4] = {16777216.0f, 1.0f, 1.0f, -16777216.0f};
    for (int r = 0; r < 4; ++r) t.SetValue(64 * r, first[r]);
    ev = pipe.FetchEventID<HardEvent::S_V>();
    SetFlag<HardEvent::S_V>(ev);
    WaitFlag<HardEvent::S_V>(ev);
    ReduceSum(d, t, w, 256);
    reduce_sum_result = pasa_text::Cat("ReduceSum over 4 repeats = ", static_cast<double>(d.GetValue(0)));
  });
}

void VectorOpOnCube() {
  if ASCEND_IS_AIV { return; }
  TPipe pipe;
  TBuf<TPosition::A1> l1;
  pipe.InitBuffer(l1, 1024);
  LocalTensor<half> t = l1.Get<half>();
  Exp(t, t, 16);
}

void FlagOverflow() {
  if ASCEND_IS_AIV {
    for (int i = 0; i < 16; ++i) CrossCoreSetFlag<2, PIPE_MTE3>(3);
  }
}

void Deadlock() {
  if ASCEND_IS_AIC { CrossCoreWaitFlag(7); }  // nobody sets flag 7
}

}  // namespace

std::string RunViolationKernel(const std::string& which) {
  std::function<void()> k;
  if (which == "ub_overflow") k = UbOverflow;
  else if (which == "l1_overflow") k = [] { CubeOverflow(TPosition::A1); };
  else if (which == "l0a_overflow") k = [] { CubeOverflow(TPosition::A2); };
  else if (which == "l0b_overflow") k = [] { CubeOverflow(TPosition::B2); };
  else if (which == "vector_op_on_cube") k = VectorOpOnCube;
  else if (which == "flag_overflow") k = FlagOverflow;
  else if (which == "l0c_overflow") k = [] { CubeOverflow(TPosition::CO1); };
  else if (which == "misaligned_copy") k = [] { Copy(true); };
  else if (which == "short_copy") k = [] { Copy(false); };
  else if (which == "unbalanced_queue") k = [] { Queue(0); };
  else if (which == "dequeue_empty") k = [] { Queue(1); };
  else if (which == "double_free") k = [] { Queue(2); };
  else if (which == "poison_read") k = PoisonRead;
  else if (which == "poison_mmad") k = PoisonMmad;
  else if (which == "gemv_zz_a") k = GemvOnZzA;
  else if (which == "pipe_m") k = AccumulateWithoutPipeM;
  else if (which == "v_to_s" || which == "s_to_v" || which == "v_to_v" || which == "v_to_mte3" ||
           which == "mte2_to_v" || which == "mte2_overlap" || which == "mte3_overlap")
    k = [which] { MissingSync(which); };
  else if (which == "fix_to_mte2") k = FixToMte2;
  else if (which == "cross_core_wrong_pipe") k = CrossCoreWrongPipe;
  else if (which == "event_budget") k = EventBudget;
  else if (which == "double_set_flag") k = [] { FlagMisuse(0); };
  else if (which == "wait_without_set") k = [] { FlagMisuse(1); };
  else if (which == "flag_never_waited") k = [] { FlagMisuse(2); };
  else if (which == "event_on_wrong_core") k = [] { FlagMisuse(3); };
  else if (which == "reduce_sum_order") k = ReduceSumOrder;
  else if (which == "deadlock") k = Deadlock;
  else if (which == "ok") k = [] {};
  else throw SimError("unknown violation case '" + which + "'");
  Capacities caps;
  try {
    if (which == "deadlock") {
      // a short timeout keeps the test fast
      launch_mix_1_2(1, caps, [&] {
        ctx().flags->timeout_s = 0.5;
        k();
      });
    } else {
      launch_mix_1_2(1, caps, k);
    }
  } catch (const SimError& e) {
    return e.what();
  }
  if (which == "reduce_sum_order") return reduce_sum_result;
  return "";
}

}  // namespace ascend_sim
