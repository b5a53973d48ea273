// elementwise.cu: fill, copy, addScalar and the activations. All use grid-stride loops over n
// elements, so any grid size is correct; the Java side launches min(ceil(n / 256), 65535 * 8)
// blocks of 256 threads. In-place use (x == y, dy == dx) is safe: each element is read before it
// is written by the same thread.
#include "common.cuh"

// fill v1: t[i] = value.
NN_KERNEL void fill(float* __restrict__ t, float value, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        t[i] = value;
    }
}

// copy v1: dst[i] = src[i] (src and dst do not overlap, or are the same).
NN_KERNEL void copy(const float* src, float* dst, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        dst[i] = src[i];
    }
}

// add_scalar v1: t[index] += delta, one thread (step counters inside a captured step).
NN_KERNEL void add_scalar(float* t, int index, float delta) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        t[index] = t[index] + delta;
    }
}

// sigmoid_forward v1: y = 1 / (1 + exp(-x)), CUDA's expf (within 2 ulp) and IEEE division (no fast math; nn_act, as
// batch norm's fused output).
NN_KERNEL void sigmoid_forward(const float* x, float* y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        y[i] = nn_act(NN_ACT_SIGMOID, x[i]);
    }
}

// sigmoid_backward v1: dx = dy * y * (1 - y) (nn_act_grad).
NN_KERNEL void sigmoid_backward(const float* y, const float* dy, float* dx, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        dx[i] = nn_act_grad(NN_ACT_SIGMOID, y, i, dy[i]);
    }
}

// relu_forward v1: y = x > 0 ? x : 0 (nn_act).
NN_KERNEL void relu_forward(const float* x, float* y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        y[i] = nn_act(NN_ACT_RELU, x[i]);
    }
}

// relu_backward v1: dx = x > 0 ? dy : 0 (nn_act_grad; the input or the output: same signs).
NN_KERNEL void relu_backward(const float* x, const float* dy, float* dx, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        dx[i] = nn_act_grad(NN_ACT_RELU, x, i, dy[i]);
    }
}
