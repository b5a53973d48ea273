package dev.normnet;

import dev.normnet.nn.AvgPool2d;
import dev.normnet.nn.BatchNorm;
import dev.normnet.nn.Conv2d;
import dev.normnet.nn.Flatten;
import dev.normnet.nn.Layer;
import dev.normnet.nn.Linear;
import dev.normnet.nn.MaxPool2d;
import dev.normnet.nn.ReLU;
import dev.normnet.nn.Sequential;
import dev.normnet.nn.Sigmoid;
import dev.normnet.tensor.Shape;
import java.util.Map;

/**
 * The float64 reference of normnet's tests: naive forward passes of every op, written from the
 * formulas alone (direct gather loops, no code shared with any backend), and a model's training
 * loss composed from them. Backends are compared against these functions (see
 * {@link Closeness}); gradients are checked against central finite differences of them.
 */
public final class Reference64 {
    private Reference64() {
    }

    /** y (N, K, P, Q) = cross-correlation of x (N, C, H, W) with w (K, C, R, S), plus b (K) or null. */
    public static double[] conv2d(double[] x, int n, int c, int h, int w, double[] wt, int k, int r, int s,
                           double[] b, int stride, int pad) {
        int p = (h + 2 * pad - r) / stride + 1;
        int q = (w + 2 * pad - s) / stride + 1;
        double[] y = new double[n * k * p * q];
        for (int in = 0; in < n; in++) {
            for (int ik = 0; ik < k; ik++) {
                for (int ip = 0; ip < p; ip++) {
                    for (int iq = 0; iq < q; iq++) {
                        double acc = b == null ? 0 : b[ik];
                        for (int ic = 0; ic < c; ic++) {
                            for (int ir = 0; ir < r; ir++) {
                                for (int is = 0; is < s; is++) {
                                    int ih = ip * stride - pad + ir;
                                    int iw = iq * stride - pad + is;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
                                        continue;
                                    }
                                    acc += x[((in * c + ic) * h + ih) * w + iw] * wt[((ik * c + ic) * r + ir) * s + is];
                                }
                            }
                        }
                        y[((in * k + ik) * p + ip) * q + iq] = acc;
                    }
                }
            }
        }
        return y;
    }

    /** y (N, O) = x (N, I) w^T (O, I) + b (O) or null. */
    public static double[] linear(double[] x, int n, int in, double[] w, int out, double[] b) {
        double[] y = new double[n * out];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < out; o++) {
                double acc = b == null ? 0 : b[o];
                for (int j = 0; j < in; j++) {
                    acc += x[i * in + j] * w[o * in + j];
                }
                y[i * out + o] = acc;
            }
        }
        return y;
    }

    /** Per-channel mean over N and HW of x (N, C, HW). */
    public static double[] channelMean(double[] x, int n, int c, int hw) {
        double[] mean = new double[c];
        for (int ic = 0; ic < c; ic++) {
            double sum = 0;
            for (int in = 0; in < n; in++) {
                for (int j = 0; j < hw; j++) {
                    sum += x[(in * c + ic) * hw + j];
                }
            }
            mean[ic] = sum / (n * hw);
        }
        return mean;
    }

    /** Per-channel biased variance of x (N, C, HW). */
    public static double[] channelVariance(double[] x, int n, int c, int hw) {
        double[] mean = channelMean(x, n, c, hw);
        double[] var = new double[c];
        for (int ic = 0; ic < c; ic++) {
            double sum = 0;
            for (int in = 0; in < n; in++) {
                for (int j = 0; j < hw; j++) {
                    double d = x[(in * c + ic) * hw + j] - mean[ic];
                    sum += d * d;
                }
            }
            var[ic] = sum / (n * hw);
        }
        return var;
    }

    /** Training-mode batch norm of x (N, C, HW) with the batch's mean and biased variance. */
    public static double[] batchNormTrain(double[] x, int n, int c, int hw, double[] gamma, double[] beta, double eps) {
        return batchNormWith(x, n, c, hw, gamma, beta, channelMean(x, n, c, hw), channelVariance(x, n, c, hw), eps);
    }

    /** Batch norm of x (N, C, HW) with given statistics (the eval-mode formula). */
    public static double[] batchNormWith(double[] x, int n, int c, int hw, double[] gamma, double[] beta,
                                  double[] mean, double[] var, double eps) {
        double[] y = new double[x.length];
        for (int in = 0; in < n; in++) {
            for (int ic = 0; ic < c; ic++) {
                for (int j = 0; j < hw; j++) {
                    int i = (in * c + ic) * hw + j;
                    y[i] = gamma[ic] * (x[i] - mean[ic]) / Math.sqrt(var[ic] + eps) + beta[ic];
                }
            }
        }
        return y;
    }

    /** Average pooling of x (planes, H, W) with square windows, padded zeros counted. */
    public static double[] avgPool(double[] x, int planes, int h, int w, int kernel, int stride, int pad) {
        int p = (h + 2 * pad - kernel) / stride + 1;
        int q = (w + 2 * pad - kernel) / stride + 1;
        double[] y = new double[planes * p * q];
        for (int pl = 0; pl < planes; pl++) {
            for (int ip = 0; ip < p; ip++) {
                for (int iq = 0; iq < q; iq++) {
                    double sum = 0;
                    for (int a = 0; a < kernel; a++) {
                        for (int b = 0; b < kernel; b++) {
                            int ih = ip * stride - pad + a;
                            int iw = iq * stride - pad + b;
                            if (ih >= 0 && ih < h && iw >= 0 && iw < w) {
                                sum += x[(pl * h + ih) * w + iw];
                            }
                        }
                    }
                    y[(pl * p + ip) * q + iq] = sum / (kernel * kernel);
                }
            }
        }
        return y;
    }

    /** Max pooling of x (planes, H, W); padding positions are skipped. */
    public static double[] maxPool(double[] x, int planes, int h, int w, int kernel, int stride, int pad) {
        int p = (h + 2 * pad - kernel) / stride + 1;
        int q = (w + 2 * pad - kernel) / stride + 1;
        double[] y = new double[planes * p * q];
        for (int pl = 0; pl < planes; pl++) {
            for (int ip = 0; ip < p; ip++) {
                for (int iq = 0; iq < q; iq++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int a = 0; a < kernel; a++) {
                        for (int b = 0; b < kernel; b++) {
                            int ih = ip * stride - pad + a;
                            int iw = iq * stride - pad + b;
                            if (ih >= 0 && ih < h && iw >= 0 && iw < w) {
                                max = Math.max(max, x[(pl * h + ih) * w + iw]);
                            }
                        }
                    }
                    y[(pl * p + ip) * q + iq] = max;
                }
            }
        }
        return y;
    }

    public static double[] sigmoid(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = 1 / (1 + Math.exp(-x[i]));
        }
        return y;
    }

    public static double[] relu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.max(x[i], 0);
        }
        return y;
    }

    /** Per-row cross-entropy -log softmax(logits)[label] of logits (N, K), written as the textbook formula. */
    public static double[] crossEntropyRows(double[] logits, int n, int k, int[] labels) {
        double[] loss = new double[n];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k; j++) {
                max = Math.max(max, logits[i * k + j]);
            }
            double sum = 0;
            for (int j = 0; j < k; j++) {
                sum += Math.exp(logits[i * k + j] - max);
            }
            loss[i] = -(logits[i * k + labels[i]] - max - Math.log(sum));
        }
        return loss;
    }

    /** Mean over the batch of the per-row cross-entropy. */
    public static double crossEntropyMean(double[] logits, int n, int k, int[] labels) {
        double sum = 0;
        for (double v : crossEntropyRows(logits, n, k, labels)) {
            sum += v;
        }
        return sum / n;
    }

    /**
     * The mean softmax cross-entropy of a built {@link Sequential} in training mode (batch norm
     * with batch statistics) on {@code input} (n samples of the model's input shape), with the
     * parameters in {@code state} (PyTorch's state_dict names).
     */
    public static double trainingLoss(Sequential model, Map<String, double[]> state, double[] input, int n, int[] labels) {
        double[] a = input;
        Shape s = model.inputShape();
        for (int i = 0; i < model.layers().size(); i++) {
            Layer layer = model.layers().get(i);
            Shape out = model.shapeBefore(i + 1);
            if (layer instanceof Conv2d c) {
                a = conv2d(a, n, s.dim(0), s.dim(1), s.dim(2), state.get(i + ".weight"), out.dim(0), c.kernel(), c.kernel(),
                        c.hasBias() ? state.get(i + ".bias") : null, c.spec().stride(), c.spec().pad());
            } else if (layer instanceof Linear l) {
                a = linear(a, n, s.dim(0), state.get(i + ".weight"), out.dim(0), l.hasBias() ? state.get(i + ".bias") : null);
            } else if (layer instanceof BatchNorm b) {
                a = batchNormTrain(a, n, s.dim(0), s.sizeFrom(1), state.get(i + ".weight"), state.get(i + ".bias"), b.eps());
            } else if (layer instanceof Sigmoid) {
                a = sigmoid(a);
            } else if (layer instanceof ReLU) {
                a = relu(a);
            } else if (layer instanceof AvgPool2d p) {
                a = avgPool(a, n * s.dim(0), s.dim(1), s.dim(2), p.spec().kernel(), p.spec().stride(), p.spec().pad());
            } else if (layer instanceof MaxPool2d p) {
                a = maxPool(a, n * s.dim(0), s.dim(1), s.dim(2), p.spec().kernel(), p.spec().stride(), p.spec().pad());
            } else if (!(layer instanceof Flatten)) {
                throw new IllegalArgumentException("no reference for " + layer);
            }
            s = out;
        }
        return crossEntropyMean(a, n, s.dim(0), labels);
    }
}
