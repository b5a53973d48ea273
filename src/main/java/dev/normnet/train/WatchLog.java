package dev.normnet.train;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;
import java.util.Map;

/**
 * What {@link TrainingWatch} recorded: the {@code "watch"} object of a history file.
 * <pre>
 * "watch": {
 *   "every": 50,                                   steps between samples (a sample at steps 50, 100, ...)
 *   "seconds": 3.2,                                host time spent watching (read-backs, sorting)
 *   "layers": [{"index": 1, "name": "BatchNorm2d-2", "type": "BatchNorm2d", "channels": 6}, ...],
 *   "steps": [
 *     {"step": 50, "epoch": 1,
 *      "inputs": {"BatchNorm2d-2": {"p15": -0.41, "p50": 0.02, "p85": 0.47,
 *                                   "batch_mean": [...], "batch_var": [...], "running_mean": [...], "running_var": [...]},
 *                 "Sigmoid-3": {"p15": -0.92, "p50": 0.01, "p85": 0.95}, ...},
 *      "grad_norms": {"0.weight": 0.031, "0.bias": 0.002, ...}},
 *     ...],
 *   "epochs": [{"epoch": 1, "gamma": {"BatchNorm2d-2": [...]}, "beta": {"BatchNorm2d-2": [...]}}, ...]
 * }
 * </pre>
 * Layers are named as in the model summary: type and 1-based position ("Sigmoid-3" is layer
 * index 2, state-dict prefix {@code "2."}). Arrays are per channel. A non-finite value is
 * {@code null}.
 *
 * @param every   steps between samples
 * @param seconds host time the watcher spent
 * @param layers  the watched layers, in model order: every batch norm and every activation
 * @param steps   one sample per watched step
 * @param epochs  gamma and beta of every batch norm after each epoch
 */
@JsonPropertyOrder({"every", "seconds", "layers", "steps", "epochs"})
public record WatchLog(@JsonProperty(value = "every", required = true) int every,
                       @JsonProperty("seconds") double seconds,
                       @JsonProperty(value = "layers", required = true) List<Layer> layers,
                       @JsonProperty(value = "steps", required = true) List<Step> steps,
                       @JsonProperty(value = "epochs", required = true) List<Epoch> epochs) {

    /**
     * A watched layer.
     *
     * @param index    its index in the model (state-dict prefix)
     * @param name     type and 1-based position, "Sigmoid-3"
     * @param type     "BatchNorm2d", "BatchNorm1d", "Sigmoid", "ReLU"
     * @param channels channels (features) of a batch norm; null for an activation
     */
    @JsonPropertyOrder({"index", "name", "type", "channels"})
    public record Layer(@JsonProperty(required = true) int index, @JsonProperty(required = true) String name,
                        @JsonProperty(required = true) String type,
                        @JsonInclude(JsonInclude.Include.NON_NULL) Integer channels) {
        /** Whether this is a batch-norm layer. */
        @JsonIgnore
        public boolean isBatchNorm() {
            return type.startsWith("BatchNorm");
        }
    }

    /**
     * One watched step.
     *
     * @param step      the step, from 1 over the run
     * @param epoch     its epoch, from 1
     * @param inputs    by layer name, what its input held
     * @param gradNorms by parameter (state-dict name), the L2 norm of its gradient at this step
     */
    @JsonPropertyOrder({"step", "epoch", "inputs", "grad_norms"})
    public record Step(@JsonProperty(required = true) long step, @JsonProperty(required = true) int epoch,
                       @JsonProperty(required = true) Map<String, Input> inputs,
                       @JsonProperty(value = "grad_norms", required = true) Map<String, Double> gradNorms) {
    }

    /**
     * A layer's input over the whole batch at one step: its 15th, 50th and 85th percentiles
     * ({@link Percentiles}, numpy's linear rule) and, for a batch norm, per channel: the batch mean
     * and the biased batch variance it normalizes with (computed in double from the same input),
     * and the running mean and (unbiased) running variance after this step's update.
     */
    @JsonPropertyOrder({"p15", "p50", "p85", "batch_mean", "batch_var", "running_mean", "running_var"})
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Input(double p15, double p50, double p85,
                        @JsonProperty("batch_mean") List<Float> batchMean,
                        @JsonProperty("batch_var") List<Float> batchVar,
                        @JsonProperty("running_mean") List<Float> runningMean,
                        @JsonProperty("running_var") List<Float> runningVar) {
    }

    /**
     * Gamma and beta of every batch norm after one epoch, per channel.
     *
     * @param epoch from 1
     * @param gamma by layer name
     * @param beta  by layer name
     */
    @JsonPropertyOrder({"epoch", "gamma", "beta"})
    public record Epoch(@JsonProperty(required = true) int epoch,
                        @JsonProperty(required = true) Map<String, List<Float>> gamma,
                        @JsonProperty(required = true) Map<String, List<Float>> beta) {
    }
}
