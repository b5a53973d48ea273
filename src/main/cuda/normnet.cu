// normnet.cu: the single translation unit nvcc compiles into normnet.fatbin (one module, so
// every kernel is found by name with cuModuleGetFunction). Compile line (see build-fatbin.sh):
//   nvcc -fatbin -O3 -gencode arch=compute_80,code=sm_80 ... -gencode arch=compute_90,code=compute_90
#include "reduce.cu"
#include "elementwise.cu"
#include "conv2d.cu"
#include "batchnorm.cu"
#include "pool.cu"
#include "softmax_ce.cu"
#include "gemm.cu"
#include "optim.cu"
#include "data.cu"
