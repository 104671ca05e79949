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

void ComputePoolGrad(void* kernel, TF_OpKernelContext* ctx) {
  const PoolAttrs& a = *static_cast<PoolAttrs*>(kernel);
  TF_Status* status = TF_NewStatus();
  TF_Tensor* x = nullptr;
  TF_Tensor* dy = nullptr;
  TF_GetInput(ctx, 0, &x, status);
  if (TF_GetCode(status) == TF_OK) TF_GetInput(ctx, 1, &dy, status);
  if (TF_GetCode(status) == TF_OK && (TF_NumDims(x) != 4 || TF_NumDims(dy) != 4)) {
    TF_SetStatus(status, TF_INVALID_ARGUMENT, "Cifar100MaxPoolGrad: x and dy must be NHWC");
  }
  if (TF_GetCode(status) == TF_OK) {
    const int64_t n = TF_Dim(x, 0), h = TF_Dim(x, 1), w = TF_Dim(x, 2), c = TF_Dim(x, 3);
    const int64_t out_h = TF_Dim(dy, 1), out_w = TF_Dim(dy, 2);
    int64_t dims[4] = {n, h, w, c};
    const size_t bytes = sizeof(float) * n * h * w * c;
    TF_Tensor* dx = TF_AllocateOutput(ctx, 0, TF_FLOAT, dims, 4, bytes, status);
    if (TF_GetCode(status) == TF_OK) {
      auto* out = static_cast<float*>(TF_TensorData(dx));
      const auto* in = static_cast<const float*>(TF_TensorData(x));
      const auto* g = static_cast<const float*>(TF_TensorData(dy));
      // Images are independent: split the batch over the cores for large inputs.
      const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
      const int64_t parts = bytes > (1 << 20) ? std::min(cores, n) : 1;
      std::vector<std::thread> threads;
      for (int64_t p = 1; p < parts; p++) {
        threads.emplace_back(PoolGradImages, std::cref(a), in, g, out, n * p / parts,
                             n * (p + 1) / parts, h, w, c, out_h, out_w);
      }
      PoolGradImages(a, in, g, out, 0, n / parts, h, w, c, out_h, out_w);
      for (auto& t : threads) t.join();
    }
    TF_DeleteTensor(dx);
  }
  if (TF_GetCode(status) != TF_OK) TF_OpKernelContext_Failure(ctx, status);
  TF_DeleteTensor(x);
  TF_DeleteTensor(dy);
  TF_DeleteStatus(status);
}

void SameShapeAsFirstInput(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* shape = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, shape, status);
  TF_DeleteShapeHandle(shape);
}

}  // namespace

// Registers the ops and their CPU kernels; returns 0 on success. Safe to call more than once.
extern "C" int cifar100_register_ops() {
  static int result = [] {
    TF_Status* status = TF_NewStatus();
    TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder("Cifar100MaxPoolGrad");
    TF_OpDefinitionBuilderAddInput(op, "x: float");
    TF_OpDefinitionBuilderAddInput(op, "dy: float");
    TF_OpDefinitionBuilderAddOutput(op, "dx: float");
    for (const char* name : kAttrs) {
      std::string attr = std::string(name) + ": int";
      TF_OpDefinitionBuilderAddAttr(op, attr.c_str());
    }
    TF_OpDefinitionBuilderSetShapeInferenceFunction(op, &SameShapeAsFirstInput);
    TF_RegisterOpDefinition(op, status);
    if (TF_GetCode(status) == TF_OK) {
      TF_KernelBuilder* kernel = TF_NewKernelBuilder("Cifar100MaxPoolGrad", "CPU", &CreatePool,
                                                     &ComputePoolGrad, &DeletePool);
      TF_RegisterKernelBuilder("Cifar100MaxPoolGradOp", kernel, status);
    }
    const int code = TF_GetCode(status);
    TF_DeleteStatus(status);
    return code;
  }();
  return result;
}
