// The sequential step loops of the CPU kernel (torch_geometric_gru/ops/gru/
// cpu.py), outside the Python interpreter. Same contract and same exact
// reformulations as the Python loops they replace:
//
// * a gate row is [r, z, W_hn h + b_hn, s] (see cpu.py's _Gates), the state
//   is u = (h + 1) / 2, tanh(a) = 2 sigmoid(2a) - 1;
// * packed rows [offsets[t], offsets[t + 1]) are step t; rank k of step t
//   continues rank k of step t - 1 (the sequences still reading are a
//   prefix).
//
// Per step: one GEMM of the prefix (BLAS), then the gate math fused in one
// vectorised pass per row (at::vec::Vectorized, the same sigmoid as
// PyTorch's CPU kernel). Rows are processed in blocks of kBlock so that a
// block's gate rows stay in cache between its GEMM and its gate pass.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

// BLAS as linked into libtorch_cpu (MKL or OpenBLAS export these). Weak:
// where a build of PyTorch does not export them, the GEMMs go through ATen.
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m,
            const int* n, const int* k, const float* alpha, const float* a,
            const int* lda, const float* b, const int* ldb, const float* beta,
            float* c, const int* ldc) __attribute__((weak));
void dgemm_(const char* transa, const char* transb, const int* m,
            const int* n, const int* k, const double* alpha, const double* a,
            const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc)
    __attribute__((weak));
}

namespace {

using at::vec::Vectorized;

constexpr int64_t kBlock = 128;

// C[rows, n] = beta * C + A[rows, k] @ B[k, n], all row-major with leading
// dimensions lda, ldb, ldc (a column-major BLAS computes C^T = B^T A^T).
template <typename scalar_t>
void gemm(int64_t rows, int64_t n, int64_t k, const scalar_t* a, int64_t lda,
          const scalar_t* b, int64_t ldb, scalar_t beta, scalar_t* c,
          int64_t ldc) {
  if (rows == 0) {
    return;
  }
  const char no = 'N';
  const int m_ = static_cast<int>(n), n_ = static_cast<int>(rows),
            k_ = static_cast<int>(k), lda_ = static_cast<int>(ldb),
            ldb_ = static_cast<int>(lda), ldc_ = static_cast<int>(ldc);
  const scalar_t one = 1;
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (sgemm_ != nullptr) {
      sgemm_(&no, &no, &m_, &n_, &k_, &one, b, &lda_, a, &ldb_, &beta, c,
             &ldc_);
      return;
    }
  } else {
    if (dgemm_ != nullptr) {
      dgemm_(&no, &no, &m_, &n_, &k_, &one, b, &lda_, a, &ldb_, &beta, c,
             &ldc_);
      return;
    }
  }
  auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value);
  auto av = at::from_blob(const_cast<scalar_t*>(a), {rows, k}, {lda, 1},
                          options);
  auto bv = at::from_blob(const_cast<scalar_t*>(b), {k, n}, {ldb, 1},
                          options);
  auto cv = at::from_blob(c, {rows, n}, {ldc, 1}, options);
  if (beta == scalar_t(0)) {
    at::mm_out(cv, av, bv);
  } else {
    cv.addmm_(av, bv);
  }
}

template <typename scalar_t>
inline Vectorized<scalar_t> sigmoid(Vectorized<scalar_t> x) {
  // As PyTorch's vectorised CPU sigmoid computes it.
  const Vectorized<scalar_t> one(1);
  return (one + (Vectorized<scalar_t>(0) - x).exp()).reciprocal();
}

// One forward step's gate math for one row: g = [pre-r, pre-z, W_hn h +
// b_hn, pre-s / 2 ... ] after the step GEMM; writes u' to out.
template <typename scalar_t>
inline void forward_row(const scalar_t* g, const scalar_t* u_prev,
                        scalar_t* out, int64_t hidden) {
  using Vec = Vectorized<scalar_t>;
  const Vec two(2), half(0.5);
  for (int64_t j = 0; j < hidden; j += Vec::size()) {
    const int64_t m = std::min<int64_t>(Vec::size(), hidden - j);
    Vec r = sigmoid(Vec::loadu(g + j, m));
    Vec z = sigmoid(Vec::loadu(g + hidden + j, m));
    Vec ghn = Vec::loadu(g + 2 * hidden + j, m);
    Vec s = sigmoid(Vec::loadu(g + 3 * hidden + j, m) + two * r * ghn);
    Vec up = u_prev == nullptr ? half : Vec::loadu(u_prev + j, m);
    (s + z * (up - s)).store(out + j, m);
  }
}

// The forward steps of the packed rows [start, stop), whose gate rows are
// window[0, stop - start). With u: the state after row p goes to u[p], the
// state before it is u[offsets[t - 1] + k]. Without: state[k] is the state
// of rank k, updated in place.
template <typename scalar_t>
void forward_rows_impl(at::Tensor& window, int64_t start, int64_t stop,
                       const int64_t* offsets, int64_t num_steps,
                       const at::Tensor& w_hh_t, at::Tensor& state,
                       scalar_t* u) {
  const int64_t hidden = w_hh_t.size(0);
  const int64_t width = 4 * hidden;
  scalar_t* g = window.data_ptr<scalar_t>();
  const scalar_t* w = w_hh_t.data_ptr<scalar_t>();
  scalar_t* st = state.data_ptr<scalar_t>();
  int64_t t = std::upper_bound(offsets, offsets + num_steps + 1, start) -
              offsets - 1;
  for (int64_t p = start; p < stop; ++t) {
    const int64_t seg_end = std::min(offsets[t + 1], stop);
    const int64_t k0 = p - offsets[t];
    const int64_t n = seg_end - p;
    at::parallel_for(0, n, kBlock, [&](int64_t b0, int64_t b1) {
      for (int64_t i0 = b0; i0 < b1; i0 += kBlock) {
        const int64_t i1 = std::min(i0 + kBlock, b1);
        const int64_t k = k0 + i0;
        scalar_t* gb = g + (p + i0 - start) * width;
        const scalar_t* up = nullptr;
        if (t > 0) {
          up = u != nullptr ? u + (offsets[t - 1] + k) * hidden
                            : st + k * hidden;
          gemm<scalar_t>(i1 - i0, 3 * hidden, hidden, up, hidden, w,
                         3 * hidden, 1, gb, width);
        }
        scalar_t* out = u != nullptr ? u + (p + i0) * hidden : st + k * hidden;
        for (int64_t i = 0; i < i1 - i0; ++i) {
          forward_row<scalar_t>(gb + i * width,
                                up == nullptr ? nullptr : up + i * hidden,
                                out + i * hidden, hidden);
        }
      }
    });
    p = seg_end;
  }
}

void forward_rows(at::Tensor window, int64_t start, int64_t stop,
                  at::Tensor offsets, at::Tensor w_hh_t, at::Tensor state,
                  c10::optional<at::Tensor> u) {
  TORCH_CHECK(window.is_contiguous() && w_hh_t.is_contiguous() &&
                  state.is_contiguous() && offsets.is_contiguous(),
              "forward_rows: contiguous tensors expected");
  TORCH_CHECK(offsets.scalar_type() == at::kLong, "offsets must be int64");
  TORCH_CHECK(window.size(0) >= stop - start, "window too small");
  const int64_t* off = offsets.data_ptr<int64_t>();
  const int64_t num_steps = offsets.numel() - 1;
  AT_DISPATCH_FLOATING_TYPES(window.scalar_type(), "forward_rows", [&] {
    scalar_t* up = nullptr;
    if (u.has_value()) {
      TORCH_CHECK(u->is_contiguous(), "u must be contiguous");
      up = u->data_ptr<scalar_t>();
    }
    forward_rows_impl<scalar_t>(window, start, stop, off, num_steps, w_hh_t,
                                state, up);
  });
}

// One backward step's gate math for one row: from the gate row as the
// forward's step GEMM left it (g = [pre-r, pre-z, W_hn h + b_hn, pre-s /
// 2 ...], see forward_row; the gates are recomputed here, fused) and the
// incoming dh, writes c = [d pre-r, d pre-z, d(W_hn h + b_hn), z dh] and
// a = d pre-n (see cpu.py's _gate_derivatives).
template <typename scalar_t>
inline void backward_row(const scalar_t* g, const scalar_t* u_prev,
                         const scalar_t* dh_in, const scalar_t* grad,
                         scalar_t* c, scalar_t* a, int64_t hidden) {
  using Vec = Vectorized<scalar_t>;
  const Vec one(1), two(2), four(4);
  for (int64_t j = 0; j < hidden; j += Vec::size()) {
    const int64_t m = std::min<int64_t>(Vec::size(), hidden - j);
    Vec dh = Vec::loadu(dh_in + j, m);
    if (grad != nullptr) {
      dh = dh + Vec::loadu(grad + j, m);
    }
    Vec r = sigmoid(Vec::loadu(g + j, m));
    Vec z = sigmoid(Vec::loadu(g + hidden + j, m));
    Vec ghn = Vec::loadu(g + 2 * hidden + j, m);
    Vec s = sigmoid(Vec::loadu(g + 3 * hidden + j, m) + two * r * ghn);
    Vec up = Vec::loadu(u_prev + j, m);
    Vec an = four * (s * (one - s)) * (one - z);  // d pre-n per unit dh
    Vec cn = an * r;
    Vec cr = cn * ghn * (one - r);
    Vec cz = two * (up - s) * (z * (one - z));
    (cr * dh).store(c + j, m);
    (cz * dh).store(c + hidden + j, m);
    (cn * dh).store(c + 2 * hidden + j, m);
    (z * dh).store(c + 3 * hidden + j, m);
    (an * dh).store(a + j, m);
  }
}

// The backward steps over the packed rows [lo, hi) (a chunk whose gate rows
// g, up to their activations, and previous states u_prev were recomputed),
// from step `step` down;
// returns the step to continue with in the next (earlier) chunk. dh_state
// holds the gradient of each rank's current state.
template <typename scalar_t>
int64_t backward_rows_impl(const at::Tensor& g, const at::Tensor& u_prev,
                           at::Tensor& c, at::Tensor& a,
                           at::Tensor& dh_state, const scalar_t* grad_out,
                           const at::Tensor& w_aug, const int64_t* offsets,
                           int64_t lo, int64_t hi, int64_t step) {
  const int64_t hidden = w_aug.size(1);
  const int64_t width = 4 * hidden;
  const scalar_t* gp = g.data_ptr<scalar_t>();
  const scalar_t* upp = u_prev.data_ptr<scalar_t>();
  scalar_t* cp = c.data_ptr<scalar_t>();
  scalar_t* ap = a.data_ptr<scalar_t>();
  scalar_t* dhs = dh_state.data_ptr<scalar_t>();
  const scalar_t* w = w_aug.data_ptr<scalar_t>();
  while (step >= 0 && offsets[step + 1] > lo) {
    const int64_t r0 = std::max(offsets[step], lo);
    const int64_t r1 = std::min(offsets[step + 1], hi);
    const int64_t k0 = r0 - offsets[step];
    const int64_t n = r1 - r0;
    const bool more = step > 0;
    at::parallel_for(0, n, kBlock, [&](int64_t b0, int64_t b1) {
      for (int64_t i0 = b0; i0 < b1; i0 += kBlock) {
        const int64_t i1 = std::min(i0 + kBlock, b1);
        const int64_t row = r0 - lo + i0;  // In the chunk.
        scalar_t* dh = dhs + (k0 + i0) * hidden;
        for (int64_t i = 0; i < i1 - i0; ++i) {
          backward_row<scalar_t>(
              gp + (row + i) * width, upp + (row + i) * hidden,
              dh + i * hidden,
              grad_out == nullptr ? nullptr
                                  : grad_out + (r0 + i0 + i) * hidden,
              cp + (row + i) * width, ap + (row + i) * hidden, hidden);
        }
        if (more) {  // dh_prev = c @ [W_hh; I]
          gemm<scalar_t>(i1 - i0, hidden, width, cp + row * width, width, w,
                         hidden, 0, dh, hidden);
        }
      }
    });
    if (offsets[step] < lo) {  // It continues in the next chunk.
      break;
    }
    --step;
  }
  return step;
}

int64_t backward_rows(at::Tensor g, at::Tensor u_prev, at::Tensor c,
                      at::Tensor a, at::Tensor dh_state,
                      c10::optional<at::Tensor> grad_out, at::Tensor w_aug,
                      at::Tensor offsets, int64_t lo, int64_t hi,
                      int64_t step) {
  TORCH_CHECK(g.is_contiguous() && u_prev.is_contiguous() &&
                  c.is_contiguous() && a.is_contiguous() &&
                  dh_state.is_contiguous() && w_aug.is_contiguous() &&
                  offsets.is_contiguous(),
              "backward_rows: contiguous tensors expected");
  TORCH_CHECK(offsets.scalar_type() == at::kLong, "offsets must be int64");
  const int64_t* off = offsets.data_ptr<int64_t>();
  TORCH_CHECK(step < offsets.numel() - 1, "step out of range");
  int64_t result = step;
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "backward_rows", [&] {
    const scalar_t* grad = nullptr;
    if (grad_out.has_value()) {
      TORCH_CHECK(grad_out->is_contiguous(), "grad_out must be contiguous");
      grad = grad_out->data_ptr<scalar_t>();
    }
    result = backward_rows_impl<scalar_t>(g, u_prev, c, a, dh_state, grad,
                                          w_aug, off, lo, hi, step);
  });
  return result;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_rows", &forward_rows,
        "Forward steps of a range of packed rows",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward_rows", &backward_rows,
        "Backward steps of a chunk of packed rows",
        py::call_guard<py::gil_scoped_release>());
}
