package dev.normnet.bench;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Facts about the machine and the build that every result file records: host name, operating
 * system, cores, CPU model (from /proc/cpuinfo), GPU name and driver, date, git commit and Java
 * version. The same keys as benchmarks/pytorch/common.py writes.
 */
public final class MachineInfo {
    public static final String SCHEMA = "normnet-bench/1";

    private MachineInfo() {
    }

    /**
     * The header of a result file.
     *
     * @param gpuName the GPU in use, or null when the run used no GPU
     */
    public static Map<String, Object> header(String implementation, String gpuName, int threads, Map<String, Object> settings) {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("schema", SCHEMA);
        h.put("implementation", implementation);
        h.put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        h.put("git_commit", gitCommit());
        h.put("machine", machine());
        if (gpuName == null) {
            h.put("gpu", null);
        } else {
            Map<String, Object> gpu = new LinkedHashMap<>();
            gpu.put("name", gpuName);
            gpu.put("driver", nvidiaDriver());
            h.put("gpu", gpu);
        }
        Map<String, Object> runtime = new LinkedHashMap<>();
        runtime.put("java", System.getProperty("java.version"));
        runtime.put("vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
        h.put("runtime", runtime);
        h.put("threads", threads);
        h.put("settings", settings);
        return h;
    }

    public static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("hostname", hostname());
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("cpu_model", cpuModel());
        m.put("load_average", loadAverage());
        return m;
    }

    /** The 1, 5 and 15 minute load averages from /proc/loadavg when the run starts (other work on the machine), or null. */
    static java.util.List<Object> loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg"), StandardCharsets.UTF_8).trim().split("\\s+");
            return java.util.List.of(Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    static String hostname() {
        String env = System.getenv("HOSTNAME");
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException | SecurityException e) {
            return env != null ? env : "unknown";
        }
    }

    /** The "model name" line of /proc/cpuinfo, or os.arch where there is none. */
    public static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        return System.getProperty("os.arch");
    }

    /** The driver version from /proc/driver/nvidia/version, or "unknown". */
    public static String nvidiaDriver() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/driver/nvidia/version"), StandardCharsets.UTF_8);
            if (!lines.isEmpty()) {
                for (String word : lines.get(0).split("\\s+")) {
                    if (!word.isEmpty() && Character.isDigit(word.charAt(0)) && word.contains(".")) {
                        return word;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        return "unknown";
    }

    /** HEAD of the git checkout in the working directory, "-dirty" when tracked files changed; "unknown" outside git. */
    public static String gitCommit() {
        String head = run("git", "rev-parse", "HEAD");
        if (head == null || head.isBlank()) {
            return "unknown";
        }
        String status = run("git", "status", "--porcelain", "--untracked-files=no");
        return head.trim() + (status != null && !status.isBlank() ? "-dirty" : "");
    }

    private static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(false)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroy();
                return null;
            }
            return new String(out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
