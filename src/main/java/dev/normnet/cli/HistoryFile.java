package dev.normnet.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.normnet.train.EpochRecord;
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
 *   ]
 * }
 * </pre>
 * {@code settings} is open: every option of {@code train} under its name with '-' as '_' (null when
 * not given), then {@code data} (the directory used), {@code gamma} with a schedule, {@code act},
 * {@code threads} on the CPU, {@code train_examples}, {@code test_examples}, {@code parameters}. Each
 * {@code history} entry is an {@link EpochRecord}; all six keys are required, and {@code test_acc} is
 * {@code null} when there was no test set.
 */
@JsonPropertyOrder({"device", "device_description", "settings", "history"})
public record HistoryFile(String device,
                          @JsonProperty("device_description") String deviceDescription,
                          Map<String, Object> settings,
                          @JsonProperty(value = "history", required = true) List<EpochRecord> history) {
}
