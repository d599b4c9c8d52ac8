// The segmented affine scan of the minGRU cell on CPU (torch_geometric_gru/
// ops/mingru/cpp.py): one pass per segment, vectorised over the hidden
// channels, segments split over PyTorch's threads.
//
// gates is [R, 2H] = [pre_z | candidate] per row; segment s reads the rows
// rows[ptr[s]], ..., rows[ptr[s + 1] - 1] in that order and runs
//
//     h = 0;  for each row g:  z = sigmoid(g[:H]);  h = h + z * (g[H:] - h)
//
// out[s] = h. The sigmoid and the gather are fused into the pass: nothing of
// size [E, H] is ever written by the forward.
//
// The backward is the reverse scan. The states a segment's reverse scan
// needs are recomputed chunk by chunk (kChunk steps, into a thread-local
// scratch of kChunk + 1 rows); segments longer than one chunk first run a
// forward pass that keeps the state entering every chunk, so the scratch is
// O((deg / kChunk + kChunk) * H) whatever a hub's degree.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

using at::vec::Vectorized;

constexpr int64_t kChunk = 256;

template <typename scalar_t>
inline Vectorized<scalar_t> sigmoid(Vectorized<scalar_t> x) {
  // As PyTorch's vectorised CPU sigmoid computes it.
  const Vectorized<scalar_t> one(1);
  return (one + (Vectorized<scalar_t>(0) - x).exp()).reciprocal();
}

// h <- h + sigmoid(g[:H]) * (g[H:] - h), in place; z (if given) receives
// the gate.
template <typename scalar_t>
inline void step(const scalar_t* g, const scalar_t* h_prev, scalar_t* h,
                 scalar_t* z_out, int64_t hidden) {
  using Vec = Vectorized<scalar_t>;
  for (int64_t j = 0; j < hidden; j += Vec::size()) {
    const int64_t m = std::min<int64_t>(Vec::size(), hidden - j);
    Vec z = sigmoid(Vec::loadu(g + j, m));
    Vec c = Vec::loadu(g + hidden + j, m);
    Vec hp = h_prev == nullptr ? Vec(0) : Vec::loadu(h_prev + j, m);
    (hp + z * (c - hp)).store(h + j, m);
    if (z_out != nullptr) {
      z.store(z_out + j, m);
    }
  }
}

template <typename scalar_t>
void forward_impl(const at::Tensor& gates, const at::Tensor& rows,
                  const at::Tensor& ptr, at::Tensor& out) {
  const int64_t hidden = out.size(1);
  const int64_t ld = gates.stride(0);
  const int64_t num_segments = out.size(0);
  const scalar_t* g = gates.data_ptr<scalar_t>();
  const int64_t* r = rows.data_ptr<int64_t>();
  const int64_t* p = ptr.data_ptr<int64_t>();
  scalar_t* o = out.data_ptr<scalar_t>();
  // Grain: enough segments per task that short segments amortise the
  // task, few enough that a hub does not serialise a thread's share.
  at::parallel_for(0, num_segments, 64, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      scalar_t* h = o + s * hidden;
      const int64_t lo = p[s], hi = p[s + 1];
      if (lo == hi) {
        std::fill(h, h + hidden, scalar_t(0));
        continue;
      }
      step(g + r[lo] * ld, static_cast<const scalar_t*>(nullptr), h,
           static_cast<scalar_t*>(nullptr), hidden);
      for (int64_t e = lo + 1; e < hi; ++e) {
        if (e + 1 < hi) {
          __builtin_prefetch(g + r[e + 1] * ld);
          __builtin_prefetch(g + r[e + 1] * ld + hidden);
        }
        step(g + r[e] * ld, h, h, static_cast<scalar_t*>(nullptr), hidden);
      }
    }
  });
}

// The reverse scan of every segment. kDirect: the gradient of the row read
// by element e is accumulated into grad[rows[e]] (no other thread writes
// it); otherwise it is written to grad[e] (one row per element, summed into
// the rows by the caller).
template <typename scalar_t, bool kDirect>
void backward_impl(const at::Tensor& grad_out, const at::Tensor& gates,
                   const at::Tensor& rows, const at::Tensor& ptr,
                   at::Tensor& grad) {
  using Vec = Vectorized<scalar_t>;
  const int64_t hidden = grad_out.size(1);
  const int64_t ld = gates.stride(0);
  const int64_t num_segments = grad_out.size(0);
  const scalar_t* g = gates.data_ptr<scalar_t>();
  const scalar_t* go = grad_out.data_ptr<scalar_t>();
  const int64_t* r = rows.data_ptr<int64_t>();
  const int64_t* p = ptr.data_ptr<int64_t>();
  scalar_t* gr = grad.data_ptr<scalar_t>();
  const int64_t width = 2 * hidden;
  at::parallel_for(0, num_segments, 64, [&](int64_t s0, int64_t s1) {
    // states[k] is the state entering step k of the chunk; zs[k] its gate.
    std::vector<scalar_t> states((kChunk + 1) * hidden), zs(kChunk * hidden);
    std::vector<scalar_t> checkpoints, dh(hidden);
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t lo = p[s], hi = p[s + 1];
      const int64_t n = hi - lo;
      if (n == 0) {
        continue;
      }
      const int64_t num_chunks = (n + kChunk - 1) / kChunk;
      // The state entering every chunk: one forward pass for long segments.
      checkpoints.assign(num_chunks * hidden, scalar_t(0));
      if (num_chunks > 1) {
        scalar_t* h = states.data();
        std::fill(h, h + hidden, scalar_t(0));
        for (int64_t c = 1; c < num_chunks; ++c) {
          for (int64_t e = lo + (c - 1) * kChunk; e < lo + c * kChunk; ++e) {
            step(g + r[e] * ld, h, h, static_cast<scalar_t*>(nullptr),
                 hidden);
          }
          std::copy(h, h + hidden, checkpoints.begin() + c * hidden);
        }
      }
      std::copy(go + s * hidden, go + (s + 1) * hidden, dh.begin());
      for (int64_t c = num_chunks - 1; c >= 0; --c) {
        const int64_t c_lo = lo + c * kChunk;
        const int64_t c_hi = std::min(hi, c_lo + kChunk);
        std::copy(checkpoints.begin() + c * hidden,
                  checkpoints.begin() + (c + 1) * hidden, states.begin());
        for (int64_t e = c_lo; e < c_hi; ++e) {
          const int64_t k = e - c_lo;
          step(g + r[e] * ld, states.data() + k * hidden,
               states.data() + (k + 1) * hidden, zs.data() + k * hidden,
               hidden);
        }
        for (int64_t e = c_hi - 1; e >= c_lo; --e) {
          const int64_t k = e - c_lo;
          const scalar_t* cand = g + r[e] * ld + hidden;
          const scalar_t* hp = states.data() + k * hidden;
          const scalar_t* zk = zs.data() + k * hidden;
          scalar_t* dst = gr + (kDirect ? r[e] : e) * width;
          for (int64_t j = 0; j < hidden; j += Vec::size()) {
            const int64_t m = std::min<int64_t>(Vec::size(), hidden - j);
            Vec d = Vec::loadu(dh.data() + j, m);
            Vec z = Vec::loadu(zk + j, m);
            Vec one(1);
            // dL/dpre_z = dh (c - h_prev) z (1 - z), dL/dc = dh z,
            // dL/dh_prev = dh (1 - z).
            Vec d_pre_z =
                d * (Vec::loadu(cand + j, m) - Vec::loadu(hp + j, m)) * z *
                (one - z);
            Vec d_cand = d * z;
            if (kDirect) {
              d_pre_z = d_pre_z + Vec::loadu(dst + j, m);
              d_cand = d_cand + Vec::loadu(dst + hidden + j, m);
            }
            d_pre_z.store(dst + j, m);
            d_cand.store(dst + hidden + j, m);
            (d * (one - z)).store(dh.data() + j, m);
          }
        }
      }
    }
  });
}

void check(const at::Tensor& gates, const at::Tensor& rows,
           const at::Tensor& ptr) {
  TORCH_CHECK(gates.dim() == 2 && gates.stride(1) == 1,
              "gates must be 2-D with contiguous rows");
  TORCH_CHECK(rows.is_contiguous() && rows.scalar_type() == at::kLong,
              "rows must be contiguous int64");
  TORCH_CHECK(ptr.is_contiguous() && ptr.scalar_type() == at::kLong,
              "ptr must be contiguous int64");
}

at::Tensor forward(const at::Tensor& gates, const at::Tensor& rows,
                   const at::Tensor& ptr) {
  check(gates, rows, ptr);
  auto out = at::empty({ptr.numel() - 1, gates.size(1) / 2}, gates.options());
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "mingru_scan", [&] {
    forward_impl<scalar_t>(gates, rows, ptr, out);
  });
  return out;
}

// Returns the gradient of gates ([R, 2H]) if direct, else one row per
// element ([E, 2H], in the order of rows).
at::Tensor backward(const at::Tensor& grad_out, const at::Tensor& gates,
                    const at::Tensor& rows, const at::Tensor& ptr,
                    bool direct) {
  check(gates, rows, ptr);
  TORCH_CHECK(grad_out.is_contiguous(), "grad_out must be contiguous");
  at::Tensor grad = direct ? at::zeros({gates.size(0), gates.size(1)},
                                       gates.options())
                           : at::empty({rows.numel(), gates.size(1)},
                                       gates.options());
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "mingru_scan_backward", [&] {
    if (direct) {
      backward_impl<scalar_t, true>(grad_out, gates, rows, ptr, grad);
    } else {
      backward_impl<scalar_t, false>(grad_out, gates, rows, ptr, grad);
    }
  });
  return grad;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "Segmented minGRU scan: final states",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &backward, "Reverse segmented minGRU scan",
        py::call_guard<py::gil_scoped_release>());
}
