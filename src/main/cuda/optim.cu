// optim.cu: optimizers as one launch over a flat parameter buffer (grid-stride, any grid size).
// The learning rate (and Adam's step t) are read from hyper on the device, so a captured CUDA
// graph follows a learning-rate schedule and a step counter advanced by add_scalar.
#include "common.cuh"

// sgd_step v1: PyTorch's SGD (dampening 0, no Nesterov):
//   g = grad + weightDecay * p;  v = momentum * v + g (when momentum != 0);  p -= lr * (v or g).
// velocity may be null when momentum == 0.
NN_KERNEL void sgd_step(float* __restrict__ params, const float* __restrict__ grads,
                        float* __restrict__ velocity, const float* __restrict__ hyper,
                        float momentum, float weightDecay, int n) {
    const float lr = hyper[0];
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float p = params[i];
        float g = grads[i];
        if (weightDecay != 0.0f) {
            g += weightDecay * p;
        }
        if (momentum != 0.0f) {
            float v = momentum * velocity[i] + g;
            velocity[i] = v;
            g = v;
        }
        params[i] = p - lr * g;
    }
}

// adam_step v1: PyTorch's Adam (L2 weight decay on the gradient, not AdamW), t = hyper[1] >= 1:
//   g = grad + weightDecay * p;  m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The bias corrections are computed once per thread in double, then used in float.
NN_KERNEL void adam_step(float* __restrict__ params, const float* __restrict__ grads,
                         float* __restrict__ m, float* __restrict__ v,
                         const float* __restrict__ hyper,
                         float beta1, float beta2, float eps, float weightDecay, int n) {
    const float lr = hyper[0];
    const double t = (double) hyper[1];
    const float stepSize = (float) ((double) lr / (1.0 - pow((double) beta1, t)));
    const float bc2Sqrt = (float) sqrt(1.0 - pow((double) beta2, t));
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float p = params[i];
        float g = grads[i];
        if (weightDecay != 0.0f) {
            g += weightDecay * p;
        }
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2Sqrt + eps;
        params[i] = p - stepSize * mi / denom;
    }
}
