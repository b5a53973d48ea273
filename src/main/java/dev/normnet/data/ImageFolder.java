package dev.normnet.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Reader for image sets in torchvision's {@code ImageFolder} layout: {@code DIR/train/CLASS/...}
 * and {@code DIR/test/CLASS/...}, one folder per class holding its pictures.
 * <ul>
 * <li>The classes are the folders in {@code train}, sorted by code point as Python's
 * {@code sorted()} sorts them; a class's label is its index in that order (at most 256 classes).
 * A folder in {@code test} must name one of them and takes its train index: {@code test} may hold
 * fewer classes than {@code train}, and its labels still agree (two separate torchvision
 * ImageFolders would renumber the test subset by its own sorted names).</li>
 * <li>The pictures of a class are the files under its folder, subfolders included (symbolic links
 * followed), whose names end with {@code .png}, {@code .jpg} or {@code .jpeg} in any case; other
 * files are skipped silently, as torchvision skips them, and so are files and folders whose name
 * starts with a dot. The order is torchvision's: by folder path, then by file name. A class folder
 * with no picture is an error, as it is in torchvision.</li>
 * <li>Each picture becomes {@code side x side} uint8 grey levels as {@link ImageFiles#readGray}
 * computes them (not inverted). A picture that cannot be read or decoded is an error naming it.</li>
 * </ul>
 */
public final class ImageFolder {
    private static final int MAX_ARRAY = Integer.MAX_VALUE - 16;

    private ImageFolder() {
    }

    /** True when {@code dir} has the two folders {@code train} and {@code test}. */
    public static boolean isLayout(Path dir) {
        return Files.isDirectory(dir.resolve("train")) && Files.isDirectory(dir.resolve("test"));
    }

    /** Reads {@code dir/train} and {@code dir/test}, each picture resized to side x side. */
    public static DatasetSplits load(Path dir, int side) {
        if (side < 1 || side > ImageFiles.MAX_SIDE) {
            throw new IllegalArgumentException("side must be in 1.." + ImageFiles.MAX_SIDE + ", got " + side);
        }
        Path trainDir = dir.resolve("train");
        Path testDir = dir.resolve("test");
        for (Path d : List.of(trainDir, testDir)) {
            if (!Files.isDirectory(d)) {
                throw new DataException(d + ": no such directory (an image folder holds train/CLASS/*.png"
                        + " and test/CLASS/*.png, or .jpg, .jpeg)");
            }
        }
        List<String> classes = classFolders(trainDir);
        if (classes.size() > 256) {
            throw new DataException(trainDir + ": " + classes.size() + " class folders; at most 256 are supported");
        }
        List<String> testClasses = classFolders(testDir);
        for (String c : testClasses) {
            if (!classes.contains(c)) {
                throw new DataException(testDir.resolve(c) + ": class '" + c + "' has no folder in " + trainDir
                        + " (the classes are the folders of train: " + String.join(", ", classes) + ")");
            }
        }
        LabeledImages train = read(trainDir, classes, classes, side);
        LabeledImages test = read(testDir, testClasses, classes, side);
        return new DatasetSplits(train, test, classes);
    }

    /** The names of the class folders of a split, in code-point order; at least one. */
    private static List<String> classFolders(Path split) {
        List<String> names = new ArrayList<>();
        try (Stream<Path> s = Files.list(split)) {
            s.filter(p -> !hidden(p) && Files.isDirectory(p)).forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException | UncheckedIOException e) {
            throw new DataException(split + ": cannot list (" + e + ")", e);
        }
        if (names.isEmpty()) {
            throw new DataException(split + ": no class folders (expected " + split.getFileName()
                    + "/CLASS/*.png, .jpg or .jpeg, one folder per class)");
        }
        names.sort(ImageFolder::compareCodePoints);
        return names;
    }

    /** Reads the pictures of the given classes of one split; labels are indices into {@code all}. */
    private static LabeledImages read(Path split, List<String> classes, List<String> all, int side) {
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (String c : classes) {
            List<Path> pictures = pictures(split.resolve(c));
            files.addAll(pictures);
            for (int i = 0; i < pictures.size(); i++) {
                labels.add(all.indexOf(c));
            }
        }
        int px = side * side;
        if ((long) files.size() * px > MAX_ARRAY) {
            throw new DataException(split + ": " + files.size() + " pictures of " + side + " x " + side
                    + " pixels do not fit one array");
        }
        int n = files.size();
        byte[] pixels = new byte[n * px];
        byte[] lab = new byte[n];
        DataException[] errors = new DataException[n];
        AtomicInteger firstError = new AtomicInteger(n);
        IntStream.range(0, n).parallel().forEach(i -> {
            if (i > firstError.get()) {
                return;
            }
            try {
                byte[] g = ImageFiles.readGray(files.get(i), side, false);
                System.arraycopy(g, 0, pixels, i * px, px);
            } catch (DataException e) {
                errors[i] = e;
                firstError.accumulateAndGet(i, Math::min);
            }
        });
        if (firstError.get() < n) {
            throw errors[firstError.get()];
        }
        for (int i = 0; i < n; i++) {
            lab[i] = (byte) (int) labels.get(i);
        }
        return new LabeledImages(pixels, lab, n, side, side);
    }

    /** The pictures under a class folder, in torchvision's order; at least one. */
    private static List<Path> pictures(Path classDir) {
        List<Path> found = new ArrayList<>();
        try (Stream<Path> s = Files.walk(classDir, FileVisitOption.FOLLOW_LINKS)) {
            s.filter(p -> ImageFiles.isImage(p) && Files.isRegularFile(p) && !hiddenBelow(classDir, p))
                    .forEach(found::add);
        } catch (IOException | UncheckedIOException e) {
            throw new DataException(classDir + ": cannot list (" + e + ")", e);
        }
        if (found.isEmpty()) {
            throw new DataException(classDir + ": no .png, .jpg or .jpeg files (every class folder needs at least one)");
        }
        Comparator<Path> byFolder = (a, b) -> compareCodePoints(a.getParent().toString(), b.getParent().toString());
        found.sort(byFolder.thenComparing((a, b) -> compareCodePoints(a.getFileName().toString(), b.getFileName().toString())));
        return found;
    }

    private static boolean hidden(Path p) {
        return p.getFileName().toString().startsWith(".");
    }

    /** True when a name on the way from {@code root} (excluded) to {@code p} starts with a dot. */
    private static boolean hiddenBelow(Path root, Path p) {
        for (Path part : root.relativize(p)) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    /** Compares by Unicode code point, the order of Python's {@code sorted()} on strings. */
    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Boolean.compare(i < a.length(), j < b.length());
    }
}
