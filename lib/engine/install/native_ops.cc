// TensorFlow ops the project adds to libtensorflow through its C API, for the tensorflow backend.
//
// Built by `deno task setup` next to tfjs-node's binding and loaded with Deno's FFI
// (lib/engine/native_ops.ts), which calls cifar100_register_ops() once; eager ops then find
// them by name like TensorFlow's own.
//
// Cifar100MaxPoolGrad: the gradient of max pooling, NHWC float32. TensorFlow's MaxPoolGrad
// recomputes every window's argmax with a per-pixel Eigen loop (SpatialMaxPoolWithArgMaxHelper:
// a sixth of a CNN training step's CPU time here, and as much in Keras). This is the same
// computation as a flat loop over channels, which the compiler vectorises. Semantics are
// tfjs's: the first maximum of a window, in row-major order, gets the window's gradient;
// padded positions never do; a window without a value above -infinity passes nothing.
//
// Cifar100Dropout, Cifar100ReluBiasGrad and Cifar100MaxPoolReluBiasGrad: one pass each where
// TensorFlow takes several (see their sections below).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

namespace {

struct PoolAttrs {
  int64_t window_h, window_w, stride_h, stride_w, pad_top, pad_left;
};

const char* kAttrs[] = {"window_height", "window_width", "stride_height",
                        "stride_width",  "pad_top",      "pad_left"};

void* CreatePool(TF_OpKernelConstruction* ctx) {
  auto* attrs = new PoolAttrs;
  int64_t* fields[] = {&attrs->window_h, &attrs->window_w, &attrs->stride_h,
                       &attrs->stride_w, &attrs->pad_top,  &attrs->pad_left};
  TF_Status* status = TF_NewStatus();
  for (int i = 0; i < 6 && TF_GetCode(status) == TF_OK; i++) {
    TF_OpKernelConstruction_GetAttrInt64(ctx, kAttrs[i], fields[i], status);
  }
  if (TF_GetCode(status) != TF_OK) TF_OpKernelConstruction_Failure(ctx, status);
  TF_DeleteStatus(status);
  return attrs;
}

void DeletePool(void* kernel) { delete static_cast<PoolAttrs*>(kernel); }

// dx for images [first, last) of the batch.
void PoolGradImages(const PoolAttrs& a, const float* x, const float* dy, float* dx,
                    int64_t first, int64_t last, int64_t h, int64_t w, int64_t c,
                    int64_t out_h, int64_t out_w) {
  std::vector<float> best(c);
  std::vector<int64_t> where(c);
  for (int64_t n = first; n < last; n++) {
    const float* image = x + n * h * w * c;
    float* grad = dx + n * h * w * c;
    // Zeroed here, image by image, rather than in one pass over the whole batch: the image's
    // gradient (115 KB for the CNN's first pooling) is then still in cache for the scatter.
    std::memset(grad, 0, sizeof(float) * h * w * c);
    for (int64_t oh = 0; oh < out_h; oh++) {
      for (int64_t ow = 0; ow < out_w; ow++) {
        std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
        std::fill(where.begin(), where.end(), -1);
        const int64_t h0 = oh * a.stride_h - a.pad_top, w0 = ow * a.stride_w - a.pad_left;
        for (int64_t i = std::max<int64_t>(h0, 0); i < std::min(h0 + a.window_h, h); i++) {
          for (int64_t j = std::max<int64_t>(w0, 0); j < std::min(w0 + a.window_w, w); j++) {
            const int64_t at = (i * w + j) * c;
            const float* pixel = image + at;
            for (int64_t k = 0; k < c; k++) {
              const bool larger = pixel[k] > best[k];
              best[k] = larger ? pixel[k] : best[k];
              where[k] = larger ? at + k : where[k];
            }
          }
        }
        const float* g = dy + ((n * out_h + oh) * out_w + ow) * c;
        for (int64_t k = 0; k < c; k++) {
          if (where[k] >= 0) grad[where[k]] += g[k];
        }
      }
    }
  }
}

// Every input and output of these ops is float32 of one shape, except where noted.
std::vector<int64_t> Dims(const TF_Tensor* t) {
  std::vector<int64_t> dims(TF_NumDims(t));
  for (size_t i = 0; i < dims.size(); i++) dims[i] = TF_Dim(t, static_cast<int>(i));
  return dims;
}

int64_t NumElements(const TF_Tensor* t) {
  int64_t n = 1;
  for (int64_t d : Dims(t)) n *= d;
  return n;
}

// One run of a kernel: the inputs it reads and the outputs it allocates, freed when it ends, and
// its status, reported to TensorFlow if a step failed. After a failure every step returns null.
class KernelCall {
 public:
  explicit KernelCall(TF_OpKernelContext* ctx) : ctx_(ctx), status_(TF_NewStatus()) {}
  ~KernelCall() {
    if (!ok()) TF_OpKernelContext_Failure(ctx_, status_);
    for (TF_Tensor* t : tensors_) TF_DeleteTensor(t);
    TF_DeleteStatus(status_);
  }
  KernelCall(const KernelCall&) = delete;
  KernelCall& operator=(const KernelCall&) = delete;

  bool ok() const { return TF_GetCode(status_) == TF_OK; }

  TF_Tensor* Input(int index) {
    TF_Tensor* t = nullptr;
    if (ok()) TF_GetInput(ctx_, index, &t, status_);
    return Keep(t);
  }

  // A float32 output of `dims`.
  TF_Tensor* Output(int index, const std::vector<int64_t>& dims) {
    if (!ok()) return nullptr;
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    return Keep(TF_AllocateOutput(ctx_, index, TF_FLOAT, dims.data(),
                                  static_cast<int>(dims.size()), sizeof(float) * count, status_));
  }

  // Fails the run with `message` unless `condition` holds; true when still ok.
  bool Require(bool condition, const char* message) {
    if (ok() && !condition) TF_SetStatus(status_, TF_INVALID_ARGUMENT, message);
    return ok();
  }

 private:
  TF_Tensor* Keep(TF_Tensor* t) {
    if (t) tensors_.push_back(t);
    return ok() ? t : nullptr;
  }
  TF_OpKernelContext* ctx_;
  TF_Status* status_;
  std::vector<TF_Tensor*> tensors_;
};

// Run fn(part, first, last) over [0, total) split into `parts` ranges, part 0 on the calling
// thread and the others on threads of their own.
template <typename Fn>
void ParallelParts(int64_t total, int64_t parts, Fn fn) {
  std::vector<std::thread> threads;
  for (int64_t p = 1; p < parts; p++) {
    threads.emplace_back(fn, p, total * p / parts, total * (p + 1) / parts);
  }
  fn(0, 0, total / parts);
  for (auto& t : threads) t.join();
}

int64_t Cores() { return std::max(1u, std::thread::hardware_concurrency()); }

// How many parts ParallelRanges splits `total` items into: up to all cores when there is enough
// work (at least `grain` items per thread), else one.
int64_t RangeParts(int64_t total, int64_t grain) {
  return std::max<int64_t>(1, std::min(Cores(), total / std::max<int64_t>(grain, 1)));
}

// ParallelParts in RangeParts(total, grain) parts.
template <typename Fn>
void ParallelRanges(int64_t total, int64_t grain, Fn fn) {
  ParallelParts(total, RangeParts(total, grain), fn);
}

void ComputePoolGrad(void* kernel, TF_OpKernelContext* ctx) {
  const PoolAttrs& a = *static_cast<PoolAttrs*>(kernel);
  KernelCall call(ctx);
  TF_Tensor* x = call.Input(0);
  TF_Tensor* dy = call.Input(1);
  if (!call.ok() || !call.Require(TF_NumDims(x) == 4 && TF_NumDims(dy) == 4,
                                  "Cifar100MaxPoolGrad: x and dy must be NHWC")) {
    return;
  }
  TF_Tensor* dx = call.Output(0, Dims(x));
  if (!call.ok()) return;
  const int64_t n = TF_Dim(x, 0), h = TF_Dim(x, 1), w = TF_Dim(x, 2), c = TF_Dim(x, 3);
  const int64_t out_h = TF_Dim(dy, 1), out_w = TF_Dim(dy, 2);
  auto* out = static_cast<float*>(TF_TensorData(dx));
  const auto* in = static_cast<const float*>(TF_TensorData(x));
  const auto* g = static_cast<const float*>(TF_TensorData(dy));
  // Images are independent: split the batch over the cores for inputs over 1 MB.
  const int64_t parts = sizeof(float) * n * h * w * c > (1 << 20) ? std::min(Cores(), n) : 1;
  ParallelParts(n, parts, [&](int64_t, int64_t first, int64_t last) {
    PoolGradImages(a, in, g, out, first, last, h, w, c, out_h, out_w);
  });
}

// ---- Cifar100Dropout ---------------------------------------------------------------------------
//
// Inverted dropout in one pass: keep = u >= rate, y = x * keep / (1 - rate), and the mask
// keep / (1 - rate) for the gradient (dy * mask). u is uniform in [0, 1), 24 bits, from a
// 32-bit integer hash (two rounds of Wellons's lowbias32) of the element's index keyed by the
// seed: counter-based, so the mask depends only on (seed, index), not on how the work is split,
// and 32-bit multiplies vectorise (8 lanes of AVX2), where SplitMix64's 64-bit ones took 11 ns
// a value. TensorFlow's StatelessRandomUniform (Philox) and the GreaterEqual, Cast and Mul
// after it took five passes and 2 to 4 ms on the CNN's 128 x 2304 features.

inline uint32_t Mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

void DropoutRange(const float* __restrict in, float* __restrict out, float* __restrict keep,
                  int64_t first, int64_t last, uint32_t key1, uint32_t key2, float rate,
                  float scale) {
  for (int64_t i = first; i < last; i++) {
    // The index's high half joins the second key: tensors past 2^32 values get fresh masks.
    const uint32_t h = Mix32(Mix32(static_cast<uint32_t>(i) ^ key1) +
                             (key2 ^ static_cast<uint32_t>(i >> 32)));
    const float u = static_cast<float>(h >> 8) * (1.0f / (1 << 24));
    const float m = u >= rate ? scale : 0.0f;
    keep[i] = m;
    out[i] = in[i] * m;
  }
}

void* CreateDropout(TF_OpKernelConstruction* ctx) {
  auto* rate = new float;
  TF_Status* status = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrFloat(ctx, "rate", rate, status);
  if (TF_GetCode(status) == TF_OK && !(*rate >= 0 && *rate < 1)) {
    TF_SetStatus(status, TF_INVALID_ARGUMENT, "Cifar100Dropout: rate must be in [0, 1)");
  }
  if (TF_GetCode(status) != TF_OK) TF_OpKernelConstruction_Failure(ctx, status);
  TF_DeleteStatus(status);
  return rate;
}

void DeleteDropout(void* kernel) { delete static_cast<float*>(kernel); }

void ComputeDropout(void* kernel, TF_OpKernelContext* ctx) {
  const float rate = *static_cast<float*>(kernel);
  KernelCall call(ctx);
  TF_Tensor* x = call.Input(0);
  TF_Tensor* seed = call.Input(1);
  if (!call.ok() ||
      !call.Require(NumElements(seed) == 2, "Cifar100Dropout: seed must hold two int32s")) {
    return;
  }
  TF_Tensor* y = call.Output(0, Dims(x));
  TF_Tensor* mask = call.Output(1, Dims(x));
  if (!call.ok()) return;
  // Two keys from the 64-bit seed, each mixed so that nearby seeds give unrelated masks.
  const auto* halves = static_cast<const uint32_t*>(TF_TensorData(seed));
  const uint32_t key1 = Mix32(halves[0] ^ 0x9e3779b9U);
  const uint32_t key2 = Mix32(halves[1] + key1);
  const float scale = 1.0f / (1.0f - rate);
  const auto* in = static_cast<const float*>(TF_TensorData(x));
  auto* out = static_cast<float*>(TF_TensorData(y));
  auto* keep = static_cast<float*>(TF_TensorData(mask));
  ParallelRanges(NumElements(x), 1 << 20, [&](int64_t, int64_t first, int64_t last) {
    DropoutRange(in, out, keep, first, last, key1, key2, rate, scale);
  });
}

// ---- Cifar100ReluBiasGrad ----------------------------------------------------------------------
//
// The gradient at a conv or dense layer's pre-activation and its bias's gradient, in one pass:
// dz = y > 0 ? dy : 0 (ReluGrad, y the ReLU's output) and db = dz summed over every axis but
// the last (BiasAddGrad), accumulated in double. Separately they read the first layer's 15 MB
// gradient twice.

// A bias gradient's sum over rows of c channels, in the one order every kernel here uses: rows in
// order, through float blocks of 64 rows (vectorised, and short enough to stay accurate) into
// double. Kernels that share this order and the row split of BiasRowParts give the same bits.
class BiasSum {
 public:
  BiasSum(double* sum, int64_t c) : sum_(sum), partial_(c, 0.0f), c_(c) {}
  ~BiasSum() { Flush(); }
  BiasSum(const BiasSum&) = delete;
  BiasSum& operator=(const BiasSum&) = delete;

  void Add(const float* __restrict row) {
    float* __restrict partial = partial_.data();
    for (int64_t k = 0; k < c_; k++) partial[k] += row[k];
    if (++rows_ == kBlock) Flush();
  }

 private:
  static constexpr int64_t kBlock = 64;
  void Flush() {
    if (!rows_) return;
    for (int64_t k = 0; k < c_; k++) sum_[k] += partial_[k];
    std::fill(partial_.begin(), partial_.end(), 0.0f);
    rows_ = 0;
  }
  double* sum_;
  std::vector<float> partial_;
  int64_t c_, rows_ = 0;
};

// The parts a bias gradient's rows are split into between threads, each summed by one BiasSum.
int64_t BiasRowParts(int64_t rows, int64_t c) {
  return RangeParts(rows, std::max<int64_t>(1, (1 << 19) / std::max<int64_t>(c, 1)));
}

// db from the parts' double sums, added in part order.
void FinishBias(const std::vector<std::vector<double>>& sums, float* db, int64_t c) {
  for (int64_t k = 0; k < c; k++) {
    double total = 0;
    for (const auto& part : sums) total += part[k];
    db[k] = static_cast<float>(total);
  }
}

// dz for rows [first, last) of c channels, and their sum.
void ReluBiasGradRows(const float* __restrict dy, const float* __restrict y, float* __restrict dz,
                      double* sum, int64_t first, int64_t last, int64_t c) {
  BiasSum bias(sum, c);
  for (int64_t r = first; r < last; r++) {
    const float* __restrict g = dy + r * c;
    const float* __restrict act = y + r * c;
    float* __restrict out = dz + r * c;
    for (int64_t k = 0; k < c; k++) out[k] = act[k] > 0 ? g[k] : 0.0f;
    bias.Add(out);
  }
}

void* CreateNothing(TF_OpKernelConstruction*) { return nullptr; }
void DeleteNothing(void*) {}

void ComputeReluBiasGrad(void*, TF_OpKernelContext* ctx) {
  KernelCall call(ctx);
  TF_Tensor* dy = call.Input(0);
  TF_Tensor* y = call.Input(1);
  if (!call.ok() ||
      !call.Require(TF_NumDims(dy) >= 1 && Dims(dy) == Dims(y),
                    "Cifar100ReluBiasGrad: dy and y must have one shape")) {
    return;
  }
  const int64_t c = TF_Dim(dy, TF_NumDims(dy) - 1);
  TF_Tensor* dz = call.Output(0, Dims(dy));
  TF_Tensor* db = call.Output(1, {c});
  if (!call.ok()) return;
  const int64_t rows = c > 0 ? NumElements(dy) / c : 0;
  const auto* g = static_cast<const float*>(TF_TensorData(dy));
  const auto* act = static_cast<const float*>(TF_TensorData(y));
  auto* out = static_cast<float*>(TF_TensorData(dz));
  const int64_t parts = BiasRowParts(rows, c);
  std::vector<std::vector<double>> sums(parts, std::vector<double>(c, 0.0));
  ParallelParts(rows, parts, [&](int64_t part, int64_t first, int64_t last) {
    ReluBiasGradRows(g, act, out, sums[part].data(), first, last, c);
  });
  FinishBias(sums, static_cast<float*>(TF_TensorData(db)), c);
}

// ---- Cifar100MaxPoolReluBiasGrad ---------------------------------------------------------------
//
// A conv layer's ReLU-and-bias gradient (Cifar100ReluBiasGrad above) taken straight from the
// gradient of the max pooling after it: dz = ReluGrad(MaxPoolGrad(y, dp), y), db its bias
// gradient. y, the ReLU's output and the pooling's input, is never negative, so only a window
// whose maximum is positive passes its gradient, to the first position that holds it, as
// oneDNN's pooling gradient does. Separately the two ops write dz twice and read it and y once
// more; here dz is written once. The windows must not overlap (each position gets at most one
// window's gradient). db takes Cifar100ReluBiasGrad's order, so the two ways give the same bits.

// One image's dz: each window's gradient at its first positive maximum, zeros elsewhere. Every
// position of a window is written, in two vectorised passes over its channels (the maximum, then
// the first position that holds it), so there is no scatter and no zeroing of covered positions.
void PoolReluGradImage(const PoolAttrs& a, const float* __restrict y, const float* __restrict dp,
                       float* __restrict dz, int64_t h, int64_t w, int64_t c, int64_t out_h,
                       int64_t out_w, float* __restrict best, uint8_t* __restrict taken) {
  const bool covered = a.pad_top == 0 && a.pad_left == 0 && a.stride_h == a.window_h &&
                       a.stride_w == a.window_w && out_h * a.window_h == h &&
                       out_w * a.window_w == w;
  if (!covered) std::memset(dz, 0, sizeof(float) * h * w * c);
  if (a.window_h == 2 && a.window_w == 2 && a.stride_h == 2 && a.stride_w == 2 &&
      a.pad_top == 0 && a.pad_left == 0 && 2 * out_h <= h && 2 * out_w <= w) {
    // The common 2x2 pooling in one pass per window: 3x faster than the general loops below.
    for (int64_t oh = 0; oh < out_h; oh++) {
      for (int64_t ow = 0; ow < out_w; ow++) {
        const int64_t p00 = (2 * oh * w + 2 * ow) * c, p01 = p00 + c;
        const int64_t p10 = p00 + w * c, p11 = p10 + c;
        const float* __restrict g = dp + (oh * out_w + ow) * c;
        for (int64_t k = 0; k < c; k++) {
          const float v00 = y[p00 + k], v01 = y[p01 + k], v10 = y[p10 + k], v11 = y[p11 + k];
          float m = v00 > 0 ? v00 : 0.0f;
          m = v01 > m ? v01 : m;
          m = v10 > m ? v10 : m;
          m = v11 > m ? v11 : m;
          // Bitwise, not short-circuit, logic: branch-free, so the loop vectorises.
          const bool positive = m > 0;
          const bool e00 = v00 == m, e01 = v01 == m, e10 = v10 == m, e11 = v11 == m;
          const bool t00 = positive & e00, t01 = positive & !e00 & e01;
          const bool t10 = positive & !e00 & !e01 & e10;
          const bool t11 = positive & !e00 & !e01 & !e10 & e11;
          const float grad = 0.0f + g[k];
          dz[p00 + k] = t00 ? grad : 0.0f;
          dz[p01 + k] = t01 ? grad : 0.0f;
          dz[p10 + k] = t10 ? grad : 0.0f;
          dz[p11 + k] = t11 ? grad : 0.0f;
        }
      }
    }
    return;
  }
  for (int64_t oh = 0; oh < out_h; oh++) {
    for (int64_t ow = 0; ow < out_w; ow++) {
      const int64_t h0 = oh * a.stride_h - a.pad_top, w0 = ow * a.stride_w - a.pad_left;
      const int64_t i0 = std::max<int64_t>(h0, 0), i1 = std::min(h0 + a.window_h, h);
      const int64_t j0 = std::max<int64_t>(w0, 0), j1 = std::min(w0 + a.window_w, w);
      std::fill(best, best + c, 0.0f);
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = j0; j < j1; j++) {
          const float* __restrict pixel = y + (i * w + j) * c;
          for (int64_t k = 0; k < c; k++) best[k] = pixel[k] > best[k] ? pixel[k] : best[k];
        }
      }
      std::fill(taken, taken + c, 0);
      const float* __restrict g = dp + (oh * out_w + ow) * c;
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = j0; j < j1; j++) {
          const float* __restrict pixel = y + (i * w + j) * c;
          float* __restrict out = dz + (i * w + j) * c;
          for (int64_t k = 0; k < c; k++) {
            const bool first = !taken[k] && best[k] > 0 && pixel[k] == best[k];
            // oneDNN adds the gradient to zero, which turns -0 into +0.
            out[k] = first ? 0.0f + g[k] : 0.0f;
            taken[k] |= first;
          }
        }
      }
    }
  }
}

void ComputePoolReluBiasGrad(void* kernel, TF_OpKernelContext* ctx) {
  const PoolAttrs& a = *static_cast<PoolAttrs*>(kernel);
  KernelCall call(ctx);
  TF_Tensor* y = call.Input(0);
  TF_Tensor* dp = call.Input(1);
  if (!call.ok() ||
      !call.Require(TF_NumDims(y) == 4 && TF_NumDims(dp) == 4 && TF_Dim(y, 0) == TF_Dim(dp, 0) &&
                        TF_Dim(y, 3) == TF_Dim(dp, 3),
                    "Cifar100MaxPoolReluBiasGrad: y and dp must be NHWC, one batch and channels") ||
      !call.Require(a.stride_h >= a.window_h && a.stride_w >= a.window_w,
                    "Cifar100MaxPoolReluBiasGrad: pooling windows must not overlap")) {
    return;
  }
  const int64_t n = TF_Dim(y, 0), h = TF_Dim(y, 1), w = TF_Dim(y, 2), c = TF_Dim(y, 3);
  const int64_t out_h = TF_Dim(dp, 1), out_w = TF_Dim(dp, 2);
  TF_Tensor* dz = call.Output(0, Dims(y));
  TF_Tensor* db = call.Output(1, {c});
  if (!call.ok()) return;
  const auto* in = static_cast<const float*>(TF_TensorData(y));
  const auto* g = static_cast<const float*>(TF_TensorData(dp));
  auto* out = static_cast<float*>(TF_TensorData(dz));
  const int64_t pixels = h * w, rows = n * pixels;
  const int64_t parts = BiasRowParts(rows, c);
  std::vector<std::vector<double>> sums(parts, std::vector<double>(c, 0.0));
  const auto images = [&](int64_t first, int64_t last) {
    std::vector<float> best(c);
    std::vector<uint8_t> taken(c);
    for (int64_t image = first; image < last; image++) {
      PoolReluGradImage(a, in + image * pixels * c, g + image * out_h * out_w * c,
                        out + image * pixels * c, h, w, c, out_h, out_w, best.data(),
                        taken.data());
    }
  };
  bool aligned = pixels > 0;
  for (int64_t p = 1; p < parts && aligned; p++) aligned = rows * p / parts % pixels == 0;
  if (aligned) {
    // Each part's rows are whole images: each image's rows are summed while still in cache.
    ParallelParts(rows, parts, [&](int64_t part, int64_t first, int64_t last) {
      BiasSum bias(sums[part].data(), c);
      for (int64_t image = first / pixels; image < last / pixels; image++) {
        images(image, image + 1);
        for (int64_t r = image * pixels; r < (image + 1) * pixels; r++) bias.Add(out + r * c);
      }
    });
  } else {
    ParallelParts(n, std::min(parts, n), [&](int64_t, int64_t first, int64_t last) {
      images(first, last);
    });
    ParallelParts(rows, parts, [&](int64_t part, int64_t first, int64_t last) {
      BiasSum bias(sums[part].data(), c);
      for (int64_t r = first; r < last; r++) bias.Add(out + r * c);
    });
  }
  FinishBias(sums, static_cast<float*>(TF_TensorData(db)), c);
}

void SameShapeAsFirstInput(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* shape = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, shape, status);
  TF_DeleteShapeHandle(shape);
}

// Dropout: y and the mask both have x's shape.
void TwoLikeFirstInput(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  SameShapeAsFirstInput(ctx, status);
  TF_ShapeHandle* shape = TF_NewShapeHandle();
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 1, shape, status);
  TF_DeleteShapeHandle(shape);
}

// The bias gradients: dz has the first input's shape, db is a vector of its last dimension.
void LikeFirstInputAndChannels(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  SameShapeAsFirstInput(ctx, status);
  TF_ShapeHandle* shape = TF_NewShapeHandle();
  TF_DimensionHandle* channels = TF_NewDimensionHandle();
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK && TF_ShapeInferenceContextRankKnown(ctx, shape)) {
    TF_ShapeInferenceContextDim(ctx, shape, -1, channels);
  }
  if (TF_GetCode(status) == TF_OK) {
    TF_ShapeHandle* vector =
        TF_DimensionHandleValueKnown(channels)
            ? TF_ShapeInferenceContextVectorFromSize(ctx, TF_DimensionHandleValue(channels))
            : nullptr;
    if (vector) {
      TF_ShapeInferenceContextSetOutput(ctx, 1, vector, status);
      TF_DeleteShapeHandle(vector);
    }
  }
  TF_DeleteDimensionHandle(channels);
  TF_DeleteShapeHandle(shape);
}

// One op and its CPU kernel.
struct OpSpec {
  const char* name;
  std::vector<std::string> inputs, outputs, attrs;
  void (*shape)(TF_ShapeInferenceContext*, TF_Status*);
  void* (*create)(TF_OpKernelConstruction*);
  void (*compute)(void*, TF_OpKernelContext*);
  void (*destroy)(void*);
};

void Register(const OpSpec& spec, TF_Status* status) {
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder(spec.name);
  for (const auto& in : spec.inputs) TF_OpDefinitionBuilderAddInput(op, in.c_str());
  for (const auto& out : spec.outputs) TF_OpDefinitionBuilderAddOutput(op, out.c_str());
  for (const auto& attr : spec.attrs) TF_OpDefinitionBuilderAddAttr(op, attr.c_str());
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, spec.shape);
  TF_RegisterOpDefinition(op, status);
  if (TF_GetCode(status) != TF_OK) return;
  TF_KernelBuilder* kernel =
      TF_NewKernelBuilder(spec.name, "CPU", spec.create, spec.compute, spec.destroy);
  TF_RegisterKernelBuilder((std::string(spec.name) + "Op").c_str(), kernel, status);
}

}  // namespace

// Registers the ops and their CPU kernels; returns 0 on success. Safe to call more than once.
extern "C" int cifar100_register_ops() {
  static int result = [] {
    std::vector<std::string> pool_attrs;
    for (const char* name : kAttrs) pool_attrs.push_back(std::string(name) + ": int");
    const OpSpec specs[] = {
        {"Cifar100MaxPoolGrad", {"x: float", "dy: float"}, {"dx: float"}, pool_attrs,
         &SameShapeAsFirstInput, &CreatePool, &ComputePoolGrad, &DeletePool},
        {"Cifar100Dropout", {"x: float", "seed: int32"}, {"y: float", "mask: float"},
         {"rate: float"}, &TwoLikeFirstInput, &CreateDropout, &ComputeDropout, &DeleteDropout},
        {"Cifar100ReluBiasGrad", {"dy: float", "y: float"}, {"dz: float", "db: float"}, {},
         &LikeFirstInputAndChannels, &CreateNothing, &ComputeReluBiasGrad, &DeleteNothing},
        {"Cifar100MaxPoolReluBiasGrad", {"y: float", "dp: float"}, {"dz: float", "db: float"},
         pool_attrs, &LikeFirstInputAndChannels, &CreatePool, &ComputePoolReluBiasGrad,
         &DeletePool},
    };
    TF_Status* status = TF_NewStatus();
    for (const auto& spec : specs) {
      if (TF_GetCode(status) == TF_OK) Register(spec, status);
    }
    const int code = TF_GetCode(status);
    TF_DeleteStatus(status);
    return code;
  }();
  return result;
}
