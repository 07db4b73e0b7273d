#include "sim_sync.h"

#include <algorithm>

#include "sim_runtime.h"

namespace ascend_sim {
namespace {

const char* const kSyncDoc = "asc-devkit 同步控制/核内同步/核内同步能力概述.md";

// The rule that orders two dependent instructions of one pipe, or null where the pipe keeps them in order.
const char* same_pipe_rule(Pipe p, bool write, bool after_write, bool small_mmad) {
  switch (p) {
    case Pipe::kV:  // Atlas A2: only bisheng's auto-sync would insert these; the kernel must not rely on it
      return "dependent vector instructions need PipeBarrier<PIPE_V> between them (PipeBarrier(ISASI).md: the next "
             "instruction of a pipe may start before the previous one has finished; 关键特性说明.md: on NPU "
             "architecture 2201 only bisheng's --cce-auto-sync inserts them)";
    case Pipe::kMTE2:
    case Pipe::kMTE3:
      if (write && after_write)
        return p == Pipe::kMTE2
                   ? "overlapping PIPE_MTE2 destinations need PipeBarrier<PIPE_MTE2> between the two transfers "
                     "(PipeBarrier(ISASI).md, 约束说明)"
                   : "overlapping PIPE_MTE3 destinations need PipeBarrier<PIPE_MTE3> between the two transfers "
                     "(PipeBarrier(ISASI).md, 约束说明)";
      return nullptr;
    case Pipe::kM:
      if (!write && after_write && small_mmad)
        return "the PIPE_M rule: a K-accumulating Mmad after a Mmad with (m/16)·(n/16) < 10 needs "
               "PipeBarrier<PIPE_M> between them (Mmad.md 同步优化说明; CANN 8.1.RC1 "
               "highlevel_api/impl/matmul/stage/compute/mmad_compute.h LIMIT_MNSIZE = 10)";
      return nullptr;
    default:  // PIPE_S runs in order (PipeBarrier(ISASI).md); MTE1 and FIX: no same-pipe rule is documented
      return nullptr;
  }
}

std::string core_label(int core) { return core == 0 ? "AIC" : pasa_text::Cat("AIV sub-block ", core - 1); }

struct Access {
  const char* op;
  Pipe pipe;
  bool write;
  const char* where;  // "UB" or "GM"
  uint64_t lo, hi;    // bytes (offset in local memory, or GM address)
};

// Fails unless the earlier access (core `c`, pipe `p`, instruction `s`) is covered for the current instruction.
void require(CoreContext& ctx, const Access& now, uint32_t now_seq, int c, Pipe p, uint32_t s, const char* earlier_op,
             bool earlier_write, bool small_mmad) {
  SyncState& st = ctx.sync;
  const bool same = c == st.core && p == now.pipe;
  const char* rule = nullptr;
  if (same) {
    rule = same_pipe_rule(p, now.write, earlier_write, small_mmad);
    if (rule == nullptr) return;
  }
  if (st.known[static_cast<int>(now.pipe)].t[clock_index(c, p)] >= s) return;
  const char* kind = earlier_write ? (now.write ? "write after write" : "read after write") : "write after read";
  std::string what = pasa_text::Cat("pipe hazard (", kind, "): ", now.op, " (", pipe_name(now.pipe), " #", now_seq,
                                    ") ", now.write ? "writes " : "reads ", now.where, " bytes [", now.lo, ", ", now.hi,
                                    ") that ", earlier_op ? earlier_op : "?", " (", pipe_name(p), " #", s,
                                    c == st.core ? "" : pasa_text::Cat(" on the ", core_label(c)).c_str(), ") ",
                                    earlier_write ? "wrote" : "read", " before");
  if (same) {
    failf(what, " with nothing between them: ", rule);
  }
  failf(what, ", with no ", pipe_name(p), " -> ", pipe_name(now.pipe), " synchronisation between them ",
        c == st.core ? "(SetFlag/WaitFlag, a TQue's EnQue/DeQue or FreeTensor/AllocTensor, or a chain of them; "
                     : "(CrossCoreSetFlag on the writing pipe and CrossCoreWaitFlag, then flags within the core; ",
        kSyncDoc, ")");
}

template <int Readers>
void check_block(CoreContext& ctx, const Access& now, uint32_t seq, const BlockRecord<Readers>& r) {
  const int readers = Readers;
  if (r.write_seq) require(ctx, now, seq, r.write_core, r.write_pipe, r.write_seq, r.write_op, true, r.small_mmad);
  if (!now.write) return;
  for (int c = 0; c < readers; ++c)
    for (int p = 0; p < kPipes; ++p)
      if (r.read_seq[c][p]) require(ctx, now, seq, readers == 1 ? ctx.sync.core : c, static_cast<Pipe>(p),
                                    r.read_seq[c][p], r.read_op[c][p], false, false);
}

template <int Readers>
void record_block(const CoreContext& ctx, BlockRecord<Readers>& r, int reader_row, Pipe pipe, uint32_t seq, const char* op,
                  bool write, bool small_mmad) {
  if (write) {
    r.write_seq = seq;
    r.write_core = static_cast<uint8_t>(ctx.sync.core);
    r.write_pipe = pipe;
    r.write_op = op;
    r.small_mmad = small_mmad;
  } else {
    r.read_seq[reader_row][static_cast<int>(pipe)] = seq;
    r.read_op[reader_row][static_cast<int>(pipe)] = op;
  }
}

}  // namespace

const char* pipe_name(Pipe p) {
  static const char* names[] = {"PIPE_S", "PIPE_V", "PIPE_M", "PIPE_MTE1", "PIPE_MTE2", "PIPE_MTE3", "PIPE_FIX"};
  return names[static_cast<int>(p)];
}

Instr::Instr(Pipe pipe, const char* op) : core_(ctx()), pipe_(pipe), op_(op) {
  seq_ = ++core_.sync.seq[static_cast<int>(pipe)];
}

void Instr::check_local(const Range& r) {
  auto& recs = core_.sync.local[static_cast<int>(r.m)];
  const Access now{op_, pipe_, r.write, mem_name(r.m), r.lo, r.hi};
  for (uint64_t b = r.lo / kBlock; b * kBlock < r.hi; ++b) {
    if (b >= recs.size()) failf(op_, ": ", mem_name(r.m), " byte ", b * kBlock, " outside the buffers InitBuffer set up");
    check_block(core_, now, seq_, recs[b]);
  }
}

void Instr::add(const Range& r) {
  check_local(r);
  if (!ranges_.empty()) {  // continue the previous range (LoadData's fractals, ND2NZ's rows)
    Range& last = ranges_.back();
    if (last.m == r.m && last.write == r.write && last.small_mmad == r.small_mmad && last.hi == r.lo) {
      last.hi = r.hi;
      return;
    }
  }
  ranges_.push_back(r);
}

Instr& Instr::read(Mem m, uint64_t off, uint64_t bytes) {
  if (bytes) add({m, off, off + bytes, false, false});
  return *this;
}

Instr& Instr::write(Mem m, uint64_t off, uint64_t bytes, bool small_mmad) {
  if (bytes) add({m, off, off + bytes, true, small_mmad});
  return *this;
}

namespace {
void gm_access(CoreContext& c, Pipe pipe, uint32_t seq, const char* op, const void* addr, uint64_t bytes, bool write) {
  if (bytes == 0 || c.flags == nullptr) return;
  GmRecords& gm = c.flags->gm;
  const uint64_t lo = reinterpret_cast<uint64_t>(addr), hi = lo + bytes;
  const Access now{op, pipe, write, "GM", lo, hi};
  std::lock_guard<std::mutex> lock(gm.mu);
  for (uint64_t b = lo / kBlock; b * kBlock < hi; ++b) {
    const uint64_t first = std::max(lo, b * kBlock) - b * kBlock, last = std::min(hi, (b + 1) * kBlock) - b * kBlock;
    const uint32_t mask = static_cast<uint32_t>(((uint64_t(1) << last) - 1) & ~((uint64_t(1) << first) - 1));
    GmBlock& r = gm.blocks[b];
    for (const GmWriter& w : r.writers)
      if (w.mask & mask) require(c, now, seq, w.core, w.pipe, w.seq, w.op, true, false);
    if (write) {
      for (int core = 0; core < kGroupCores; ++core)
        for (int p = 0; p < kPipes; ++p)
          if (r.read_seq[core][p])
            require(c, now, seq, core, static_cast<Pipe>(p), r.read_seq[core][p], r.read_op[core][p], false, false);
      for (GmWriter& w : r.writers) w.mask &= ~mask;  // the bytes this write takes over
      r.writers.erase(std::remove_if(r.writers.begin(), r.writers.end(), [](const GmWriter& w) { return !w.mask; }),
                      r.writers.end());
      r.writers.push_back({seq, static_cast<uint8_t>(c.sync.core), pipe, op, mask});
    } else {
      r.read_seq[c.sync.core][static_cast<int>(pipe)] = seq;
      r.read_op[c.sync.core][static_cast<int>(pipe)] = op;
    }
  }
}
}  // namespace

Instr& Instr::read_gm(const void* addr, uint64_t bytes) {
  gm_access(core_, pipe_, seq_, op_, addr, bytes, false);
  return *this;
}

Instr& Instr::write_gm(const void* addr, uint64_t bytes) {
  gm_access(core_, pipe_, seq_, op_, addr, bytes, true);
  return *this;
}

void Instr::commit() {
  for (const Range& r : ranges_) {
    auto& recs = core_.sync.local[static_cast<int>(r.m)];
    for (uint64_t b = r.lo / kBlock; b * kBlock < r.hi; ++b)
      record_block(core_, recs[b], 0, pipe_, seq_, op_, r.write, r.small_mmad);
  }
  ranges_.clear();
}

Clock publish(Pipe src) {
  SyncState& st = ctx().sync;
  Clock c = st.known[static_cast<int>(src)];
  c.t[clock_index(st.core, src)] = st.seq[static_cast<int>(src)];
  return c;
}

void learn_all_pipes(const Clock& c) {
  for (auto& k : ctx().sync.known) k.join(c);
}

namespace {
void check_event(const HardEventInfo& info, int id, const char* api) {
  if (id < 0 || id >= kEventIds)
    failf(api, "<", info.name, ">(", id, "): event ID outside [0, ", kEventIds, ") (SetFlag-WaitFlag(ISASI).md)");
  const bool aic = ctx().kind == CoreKind::kAIC;
  for (Pipe p : {info.src, info.dst}) {
    const bool ok = aic ? p != Pipe::kS && p != Pipe::kV : p == Pipe::kS || p == Pipe::kV || p == Pipe::kMTE2 ||
                                                               p == Pipe::kMTE3;
    if (!ok)
      failf(api, "<", info.name, ">: ", pipe_name(p), " takes no part in the ", aic ? "AIC" : "AIV",
            "'s intra-core synchronisation (", kSyncDoc, ", tables 2 and 3)");
  }
}
}  // namespace

void set_flag(int event, const HardEventInfo& info, int id) {
  check_event(info, id, "SetFlag");
  SyncState& st = ctx().sync;
  if (st.flag_set[event][id])
    failf("SetFlag<", info.name, ">(", id, ") twice with no WaitFlag in between: undefined behaviour "
          "(SetFlag-WaitFlag(ISASI).md, 约束说明)");
  st.flag_set[event][id] = true;
  st.flag_clock[event][id] = publish(info.src);
  st.flag_info[event] = &info;
}

void wait_flag(int event, const HardEventInfo& info, int id) {
  check_event(info, id, "WaitFlag");
  SyncState& st = ctx().sync;
  if (!st.flag_set[event][id])
    failf("WaitFlag<", info.name, ">(", id, ") with no SetFlag<", info.name, ">(", id,
          ") before it: the pipe would wait forever (SetFlag-WaitFlag(ISASI).md)");
  st.flag_set[event][id] = false;
  st.known[static_cast<int>(info.dst)].join(st.flag_clock[event][id]);
}

void pipe_barrier(Pipe p) {
  SyncState& st = ctx().sync;
  st.known[static_cast<int>(p)].t[clock_index(st.core, p)] = st.seq[static_cast<int>(p)];
}

void pipe_barrier_all() {
  Clock all;
  for (int p = 0; p < kPipes; ++p) all.join(publish(static_cast<Pipe>(p)));
  learn_all_pipes(all);
}

int take_event_id(int event, const HardEventInfo& info, bool hold, const char* holder) {
  SyncState& st = ctx().sync;
  int id = 0;
  while (id < kEventIds && (st.held[event] >> id & 1)) ++id;
  if (id == kEventIds) {
    std::string who;
    for (int i = 0; i < kEventIds; ++i) who += pasa_text::Cat(i ? ", " : "", i, ": ", st.holder[event][i]);
    failf("event-ID budget: all ", kEventIds, " IDs of HardEvent ", info.name, " are held on this core (", who,
          "); QUE_MAX_EVENT = 8 (basic_api/impl/kernel_macros.h:102), TPipe::AllocEventID/FetchEventID have no more");
  }
  int used = 1;
  for (int i = 0; i < kEventIds; ++i) used += st.held[event] >> i & 1;
  if (used > st.peak[event]) st.peak[event] = used;
  st.event_info[event] = &info;
  if (hold) {
    st.held[event] = static_cast<uint8_t>(st.held[event] | (1u << id));
    st.holder[event][id] = holder;
  }
  return id;
}

void release_event_id(int event, int id) {
  SyncState& st = ctx().sync;
  st.held[event] = static_cast<uint8_t>(st.held[event] & ~(1u << id));
}

void check_flags_at_end(const CoreContext& core, std::vector<std::string>& errors) {
  for (int e = 0; e < kHardEvents; ++e)
    for (int id = 0; id < kEventIds; ++id)
      if (core.sync.flag_set[e][id])
        errors.push_back(pasa_text::Cat("ascend_sim: ", core.name(), ": SetFlag<", core.sync.flag_info[e]->name, ">(",
                                        id, ") still set at kernel end: no WaitFlag took it (SetFlag-WaitFlag(ISASI).md:",
                                        " SetFlag and WaitFlag come in pairs)"));
}

}  // namespace ascend_sim
