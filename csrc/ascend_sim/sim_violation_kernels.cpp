// Kernels that break one rule each, to show the simulator catches what the hardware would punish.
#include <exception>
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

void PoisonMmad() {
  if ASCEND_IS_AIV { return; }
  TPipe pipe;
  TQue<TPosition::A2, 1> a;
  TQue<TPosition::B2, 1> b;
  TQue<TPosition::CO1, 1> c;
  pipe.InitBuffer(a, 1, 512);
  pipe.InitBuffer(b, 1, 512);
  pipe.InitBuffer(c, 1, 1024);
  LocalTensor<half> ta = a.AllocTensor<half>(), tb = b.AllocTensor<half>();
  LocalTensor<float> tc = c.AllocTensor<float>();
  Mmad(tc, ta, tb, MmadParams(16, 16, 16, 0, false, true));  // L0A/L0B never loaded
  a.FreeTensor(ta);
  b.FreeTensor(tb);
  c.FreeTensor(tc);
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
  TQue<TPosition::A2, 1> a;
  TQue<TPosition::B2, 1> b;
  TQue<TPosition::CO1, 1> c;
  pipe.InitBuffer(l1, 1, 1024);
  pipe.InitBuffer(a, 1, 1024);
  pipe.InitBuffer(b, 1, 1024);
  pipe.InitBuffer(c, 1, 1024);
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

// Two Mmads accumulating along K into one L0C tile with (m/16)·(n/16) = 1 < 10 and no PipeBarrier<PIPE_M>.
void AccumulateWithoutPipeM() {
  if ASCEND_IS_AIV { return; }
  TPipe pipe;
  TQue<TPosition::A2, 1> a;
  TQue<TPosition::B2, 1> b;
  TQue<TPosition::CO1, 1> c;
  pipe.InitBuffer(a, 1, 1024);
  pipe.InitBuffer(b, 1, 1024);
  pipe.InitBuffer(c, 1, 1024);
  LocalTensor<half> ta = a.AllocTensor<half>(), tb = b.AllocTensor<half>();
  InitConstValue(ta, InitConstValueParams<half>(1, 2, 0, half(1.0f)));
  InitConstValue(tb, InitConstValueParams<half>(1, 2, 0, half(1.0f)));
  a.EnQue(ta);
  b.EnQue(tb);
  ta = a.DeQue<half>();
  tb = b.DeQue<half>();
  LocalTensor<float> tc = c.AllocTensor<float>();
  Mmad(tc, ta, tb, MmadParams(16, 16, 16, 0, false, true));
  Mmad(tc, ta[256], tb[256], MmadParams(16, 16, 16, 0, false, false));  // the second K slice: accumulate
  a.FreeTensor(ta);
  b.FreeTensor(tb);
  c.FreeTensor(tc);
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
  return "";
}

}  // namespace ascend_sim
