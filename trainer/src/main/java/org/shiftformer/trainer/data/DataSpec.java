package org.shiftformer.trainer.data;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.data.NumberWords;

/**
 * Where training data comes from, as written on the command line:
 * <ul>
 * <li>{@code default}: the embedded German number-word task ({@link NumberTask}); {@code default:MAX}
 *     restricts it to the numbers 0..MAX (MAX from 1,000 to 999,999);</li>
 * <li>{@code FILE.tsv} (or {@code tsv:FILE} for any name, {@code .tsv.gz} too): tab-separated pairs ({@link TsvPairs});</li>
 * <li>{@code moses:SRC,TGT}: two line-parallel files ({@link MosesPairs});</li>
 * <li>{@code dictd:PATH}: a dictd dictionary, PATH without extension or the {@code .index} file ({@link DictdPairs});</li>
 * <li>{@code gettext:PATH} (or {@code gettext:PATH,MAX_BYTES}): gettext catalogs, a {@code .mo} or {@code .po} file
 *     or a directory of them, optionally without the pairs that have a side longer than MAX_BYTES bytes
 *     ({@link GettextPairs}).</li>
 * </ul>
 * {@link #load(SplitConfig)} reads the data and splits it ({@link Corpus}, or the number task's own rule); only
 * {@code gettext:} data is made of catalogs and can be split by catalog ({@link SplitBy#CATALOG}).
 */
public sealed interface DataSpec {

    /** The embedded default task over the numbers {@code 0..maxNumber}. */
    record Default(int maxNumber) implements DataSpec {
        /** The full task, 0..999,999. */
        public Default() {
            this(NumberWords.MAX);
        }

        @Override
        public Dataset load(SplitConfig config) {
            config.requireTextSplit(toString());
            return NumberTask.generate(config, maxNumber);
        }

        @Override
        public String toString() {
            return maxNumber == NumberWords.MAX ? NumberTask.NAME : NumberTask.NAME + ":" + maxNumber;
        }
    }

    /** A TSV file of pairs. */
    record Tsv(Path file) implements DataSpec {
        public Tsv {
            Objects.requireNonNull(file, "file");
        }

        @Override
        public Dataset load(SplitConfig config) {
            return byText(toString(), config, () -> TsvPairs.read(file));
        }

        @Override
        public String toString() {
            return "tsv:" + file;
        }
    }

    /** Moses-style parallel files. */
    record Moses(Path source, Path target) implements DataSpec {
        public Moses {
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(target, "target");
        }

        @Override
        public Dataset load(SplitConfig config) {
            return byText(toString(), config, () -> MosesPairs.read(source, target));
        }

        @Override
        public String toString() {
            return "moses:" + source + "," + target;
        }
    }

    /** A dictd dictionary. */
    record Dictd(Path path) implements DataSpec {
        public Dictd {
            Objects.requireNonNull(path, "path");
        }

        @Override
        public Dataset load(SplitConfig config) {
            return byText(toString(), config, () -> DictdPairs.read(path));
        }

        @Override
        public String toString() {
            return "dictd:" + path;
        }
    }

    /** Gettext catalogs: a {@code .mo} or {@code .po} file or a directory of them; {@code maxBytes} 0 is no limit. */
    record Gettext(Path path, int maxBytes) implements DataSpec {
        public Gettext {
            Objects.requireNonNull(path, "path");
        }

        /** All pairs, no byte limit. */
        public Gettext(Path path) {
            this(path, 0);
        }

        @Override
        public Dataset load(SplitConfig config) {
            return config.splitBy() == SplitBy.CATALOG
                ? Corpus.splitByCatalog(toString(), GettextPairs.readCatalogs(path, maxBytes), config)
                : Corpus.split(toString(), GettextPairs.read(path, maxBytes), config);
        }

        @Override
        public String toString() {
            return "gettext:" + path + (maxBytes > 0 ? "," + maxBytes : "");
        }
    }

    /** Reads and splits the data. */
    Dataset load(SplitConfig config);

    /** Splits by text the pairs {@code read} gives, refusing a split by catalog before reading anything. */
    private static Dataset byText(String name, SplitConfig config, Supplier<List<Pair>> read) {
        config.requireTextSplit(name);
        return Corpus.split(name, read.get(), config);
    }

    /** The forms this parser accepts, for usage messages. */
    List<String> FORMS = List.of("default", "default:MAX", "FILE.tsv", "tsv:FILE", "moses:SRC,TGT", "dictd:PATH",
        "gettext:PATH", "gettext:PATH,MAX_BYTES");

    /** Parses a spec; an unknown or incomplete one is an error listing the accepted forms. */
    static DataSpec parse(String spec) {
        Objects.requireNonNull(spec, "spec");
        String s = spec.strip();
        if (s.isEmpty()) {
            throw bad(spec, "empty data spec");
        }
        if (s.equals("default")) {
            return new Default();
        }
        if (s.startsWith("default:")) {
            String max = s.substring("default:".length()).strip().replace("_", "");
            if (!max.matches("[0-9]{1,7}")) {
                throw bad(spec, "default:MAX needs a whole number MAX, the largest number of the task");
            }
            int n = Integer.parseInt(max);
            if (n < NumberTask.MIN_MAX || n > NumberWords.MAX) {
                throw bad(spec, "default:MAX needs " + NumberTask.MIN_MAX + " <= MAX <= " + NumberWords.MAX + ", got " + n);
            }
            return new Default(n);
        }
        if (s.startsWith("moses:")) {
            String rest = s.substring("moses:".length());
            int comma = rest.indexOf(',');
            if (comma < 0 || rest.indexOf(',', comma + 1) >= 0) {
                throw bad(spec, "moses: needs exactly two files separated by one comma, moses:SRC,TGT");
            }
            String src = rest.substring(0, comma).strip();
            String tgt = rest.substring(comma + 1).strip();
            if (src.isEmpty() || tgt.isEmpty()) {
                throw bad(spec, "moses: source and target file must both be named, moses:SRC,TGT");
            }
            return new Moses(Path.of(src), Path.of(tgt));
        }
        if (s.startsWith("dictd:")) {
            String path = s.substring("dictd:".length()).strip();
            if (path.isEmpty()) {
                throw bad(spec, "dictd: needs a path, dictd:PATH");
            }
            return new Dictd(Path.of(path));
        }
        if (s.startsWith("gettext:")) {
            return gettext(spec, s.substring("gettext:".length()));
        }
        if (s.startsWith("tsv:")) {
            String path = s.substring("tsv:".length()).strip();
            if (path.isEmpty()) {
                throw bad(spec, "tsv: needs a file, tsv:FILE");
            }
            return new Tsv(Path.of(path));
        }
        if (s.endsWith(".tsv") || s.endsWith(".tsv.gz")) {
            return new Tsv(Path.of(s));
        }
        int colon = s.indexOf(':');
        if (colon > 1) {
            throw bad(spec, "unknown data source \"" + s.substring(0, colon) + ":\"");
        }
        throw bad(spec, "not a known data spec");
    }

    private static Gettext gettext(String spec, String rest) {
        int comma = rest.lastIndexOf(',');
        String path = (comma < 0 ? rest : rest.substring(0, comma)).strip();
        if (path.isEmpty()) {
            throw bad(spec, "gettext: needs a .mo or .po file or a directory of them, gettext:PATH");
        }
        if (comma < 0) {
            return new Gettext(Path.of(path));
        }
        String max = rest.substring(comma + 1).strip().replace("_", "");
        if (!max.matches("[0-9]{1,9}") || Integer.parseInt(max) == 0) {
            throw bad(spec, "gettext:PATH,MAX_BYTES needs a whole number MAX_BYTES >= 1, the longest side in UTF-8 bytes");
        }
        return new Gettext(Path.of(path), Integer.parseInt(max));
    }

    private static ShiftformerException bad(String spec, String what) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "data spec \"" + spec + "\": " + what
            + " (accepted: " + String.join(", ", FORMS) + ")");
    }
}
