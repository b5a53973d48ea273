package dev.normnet.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.normnet.train.EpochRecord;
import dev.normnet.train.WatchLog;
import java.util.List;
import java.util.Map;

/**
 * The training history file, written by {@code normnet train --history FILE.json} (and by
 * benchmarks/pytorch/train.py, without {@code device_description}), read by {@code normnet plot}:
 * <pre>
 * {
 *   "device": "cpu",                                 the device id ("cpu", "cuda")
 *   "device_description": "cpu: 2 threads ...",      the device line train printed (why this device)
 *   "settings": {"model": "lenet-bn", "epochs": 10, ...},
 *   "history": [
 *     {"epoch": 1, "train_loss": 0.61, "train_acc": 0.78, "test_acc": 0.80, "examples_per_sec": 5012.3, "seconds": 12.4},
 *     ...
 *   ],
 *   "stopped": {"epoch": 3, "step": 117, "reason": "training diverged ..."},  only when training stopped early
 *   "watch": {"every": 50, "layers": [...], "steps": [...], "epochs": [...]}   only with train --watch N
 * }
 * </pre>
 * {@code settings} is open: every option of {@code train} under its name with '-' as '_' (null when
 * not given), then {@code data} (the directory used), {@code gamma} with a schedule, {@code act},
 * {@code threads} on the CPU, {@code train_examples}, {@code test_examples}, {@code parameters}. Each
 * {@code history} entry is an {@link EpochRecord}; all six keys are required, and {@code test_acc} is
 * {@code null} when there was no test set. {@code watch} is a {@link WatchLog}.
 */
@JsonPropertyOrder({"device", "device_description", "settings", "history", "stopped", "watch"})
public record HistoryFile(String device,
                          @JsonProperty("device_description") String deviceDescription,
                          Map<String, Object> settings,
                          @JsonProperty(value = "history", required = true) List<EpochRecord> history,
                          @JsonInclude(JsonInclude.Include.NON_NULL) Stopped stopped,
                          @JsonInclude(JsonInclude.Include.NON_NULL) WatchLog watch) {

    /** A history of a run that finished, not watched. */
    public HistoryFile(String device, String deviceDescription, Map<String, Object> settings, List<EpochRecord> history) {
        this(device, deviceDescription, settings, history, null, null);
    }

    /** This history with {@code value} as its watch record (null: none). */
    public HistoryFile withWatch(WatchLog value) {
        return new HistoryFile(device, deviceDescription, settings, history, stopped, value);
    }

    /** This history, stopped early as {@code value} says. */
    public HistoryFile withStopped(Stopped value) {
        return new HistoryFile(device, deviceDescription, settings, history, value, watch);
    }

    /**
     * Why and where a run stopped before its last epoch.
     *
     * @param epoch  the epoch (from 1) it stopped in; {@code history} holds the ones before
     * @param step   the step of that epoch, or 0 when only the epoch is known
     * @param reason the message the run printed
     */
    public record Stopped(int epoch, int step, String reason) {
    }
}
