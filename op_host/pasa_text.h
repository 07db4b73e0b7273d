// Messages built by appending to a std::string, without iostreams: on one host (g++ 13.3, torch 2.11) any number
// streamed into an error message of the torch extension crashed the process. One helper for the torch op's
// argument checks (csrc/attention_args.cpp), the tiling (op_host) and the AscendC simulator (csrc/ascend_sim).
// C++11: CANN 8.1.RC1's op project compiles op_host/*.cpp with -std=c++11 (template cmake/func.cmake, intf.cmake).
#pragma once

#include <cstdio>
#include <string>
#include <type_traits>

namespace pasa_text {

inline void Put(std::string& s, const char* x) { s += x ? x : "(null)"; }  // a C API's message may be null
inline void Put(std::string& s, const std::string& x) { s += x; }
inline void Put(std::string& s, char x) { s += x; }
template <class T>
typename std::enable_if<std::is_integral<T>::value && !std::is_same<T, char>::value>::type Put(std::string& s, T x) {
  s += std::to_string(x);
}
inline void Put(std::string& s, double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  s += buf;
}

// Cat("got ", 3, ", want ", 2.5) == "got 3, want 2.5"
template <class... A>
std::string Cat(const A&... parts) {
  std::string s;
  const int inOrder[] = {0, (Put(s, parts), 0)...};  // a braced list runs left to right (C++11: no fold expressions)
  (void)inOrder;
  return s;
}

}  // namespace pasa_text
