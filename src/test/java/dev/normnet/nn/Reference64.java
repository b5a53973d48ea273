package dev.normnet.nn;

import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;

import java.util.Map;

/**
 * A float64 forward pass of a built {@link Sequential} in training mode (BatchNorm with batch
 * statistics) followed by the mean softmax cross-entropy, written independently of the backends
 * with plain loops; the reference for finite-difference gradient checks.
 */
final class Reference64 {
    private Reference64() {
    }

    static double loss(Sequential model, Map<String, double[]> state, double[] input, int n, int[] labels) {
        double[] a = input;
        Shape s = model.inputShape();
        for (int i = 0; i < model.layers().size(); i++) {
            Layer layer = model.layers().get(i);
            Shape out = model.shapeBefore(i + 1);
            if (layer instanceof Conv2d c) {
                a = conv(a, n, s, out, state.get(i + ".weight"), c.hasBias() ? state.get(i + ".bias") : null, c.kernel(), c.spec());
            } else if (layer instanceof Linear l) {
                a = linear(a, n, s.dim(0), out.dim(0), state.get(i + ".weight"), l.hasBias() ? state.get(i + ".bias") : null);
            } else if (layer instanceof BatchNorm b) {
                a = batchNorm(a, n, s.dim(0), s.sizeFrom(1), state.get(i + ".weight"), state.get(i + ".bias"), b.eps());
            } else if (layer instanceof Sigmoid) {
                double[] y = new double[a.length];
                for (int k = 0; k < a.length; k++) {
                    y[k] = 1 / (1 + Math.exp(-a[k]));
                }
                a = y;
            } else if (layer instanceof ReLU) {
                double[] y = new double[a.length];
                for (int k = 0; k < a.length; k++) {
                    y[k] = Math.max(a[k], 0);
                }
                a = y;
            } else if (layer instanceof AvgPool2d p) {
                a = pool(a, n, s, out, p.spec(), false);
            } else if (layer instanceof MaxPool2d p) {
                a = pool(a, n, s, out, p.spec(), true);
            } else if (!(layer instanceof Flatten)) {
                throw new IllegalArgumentException("no reference for " + layer);
            }
            s = out;
        }
        int k = s.dim(0);
        double total = 0;
        for (int r = 0; r < n; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k; j++) {
                max = Math.max(max, a[r * k + j]);
            }
            double sum = 0;
            for (int j = 0; j < k; j++) {
                sum += Math.exp(a[r * k + j] - max);
            }
            total += max + Math.log(sum) - a[r * k + labels[r]];
        }
        return total / n;
    }

    private static double[] conv(double[] x, int n, Shape in, Shape out, double[] w, double[] b, int r, ConvSpec spec) {
        int c = in.dim(0), h = in.dim(1), wd = in.dim(2);
        int kk = out.dim(0), p = out.dim(1), q = out.dim(2);
        double[] y = new double[n * kk * p * q];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < kk; o++) {
                for (int py = 0; py < p; py++) {
                    for (int qx = 0; qx < q; qx++) {
                        double acc = b == null ? 0 : b[o];
                        for (int ch = 0; ch < c; ch++) {
                            for (int dy = 0; dy < r; dy++) {
                                for (int dx = 0; dx < r; dx++) {
                                    int yy = py * spec.stride() + dy - spec.pad();
                                    int xx = qx * spec.stride() + dx - spec.pad();
                                    if (yy >= 0 && yy < h && xx >= 0 && xx < wd) {
                                        acc += w[((o * c + ch) * r + dy) * r + dx] * x[((i * c + ch) * h + yy) * wd + xx];
                                    }
                                }
                            }
                        }
                        y[((i * kk + o) * p + py) * q + qx] = acc;
                    }
                }
            }
        }
        return y;
    }

    private static double[] linear(double[] x, int n, int in, int out, double[] w, double[] b) {
        double[] y = new double[n * out];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < out; o++) {
                double acc = b == null ? 0 : b[o];
                for (int k = 0; k < in; k++) {
                    acc += x[i * in + k] * w[o * in + k];
                }
                y[i * out + o] = acc;
            }
        }
        return y;
    }

    private static double[] batchNorm(double[] x, int n, int c, int inner, double[] gamma, double[] beta, double eps) {
        double[] y = new double[x.length];
        int m = n * inner;
        for (int ch = 0; ch < c; ch++) {
            double mean = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    mean += x[(i * c + ch) * inner + k];
                }
            }
            mean /= m;
            double var = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    double d = x[(i * c + ch) * inner + k] - mean;
                    var += d * d;
                }
            }
            var /= m;
            double inv = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    int idx = (i * c + ch) * inner + k;
                    y[idx] = gamma[ch] * (x[idx] - mean) * inv + beta[ch];
                }
            }
        }
        return y;
    }

    private static double[] pool(double[] x, int n, Shape in, Shape out, PoolSpec spec, boolean max) {
        int c = in.dim(0), h = in.dim(1), w = in.dim(2);
        int p = out.dim(1), q = out.dim(2);
        double[] y = new double[n * c * p * q];
        for (int i = 0; i < n * c; i++) {
            for (int py = 0; py < p; py++) {
                for (int qx = 0; qx < q; qx++) {
                    double acc = max ? Double.NEGATIVE_INFINITY : 0;
                    for (int dy = 0; dy < spec.kernel(); dy++) {
                        for (int dx = 0; dx < spec.kernel(); dx++) {
                            int yy = py * spec.stride() + dy - spec.pad();
                            int xx = qx * spec.stride() + dx - spec.pad();
                            if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
                                double v = x[(i * h + yy) * w + xx];
                                acc = max ? Math.max(acc, v) : acc + v;
                            }
                        }
                    }
                    y[(i * p + py) * q + qx] = max ? acc : acc / (spec.kernel() * spec.kernel());
                }
            }
        }
        return y;
    }
}
