package org.shiftformer.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.trainer.data.DataSpec;
import org.shiftformer.trainer.data.Dataset;
import org.shiftformer.trainer.data.Pair;
import org.shiftformer.trainer.data.SplitBy;
import org.shiftformer.trainer.data.SplitConfig;
import org.shiftformer.trainer.eval.GroupScores;
import org.shiftformer.trainer.flow.TrainFlow;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.train.Trainer;

/**
 * The data half of the PyTorch quality peer ({@code benchmarks/peers/torch_train_quality.py}): the peer must
 * train on exactly the split and the tokens {@code ./shiftformer train} uses, and be scored by the same
 * metrics, so both ends are done here, by the trainer's own code.
 *
 * <pre>
 *   TrainPeer export DATA OUT_DIR [--split-by text|catalog] [--test-size N] [--validation-size N]
 *                                 [--vocab N] [--preset P] [--test-sentences N] [--split-seed S]
 *   TrainPeer score OUT_DIR HYPOTHESES.ids
 * </pre>
 *
 * <p>{@code export} loads DATA as {@code train} does ({@link DataSpec}, {@link SplitConfig}), trains the
 * tokenizer as {@link Trainer} does ({@link Trainer#trainTokenizer}) and writes, one pair a line, the token
 * ids the model sees: {@code train.ids}, {@code valid.ids} and {@code test.ids} hold
 * {@code source ids (with EOS)<TAB>target ids (without EOS)}; {@code merges.txt} is the tokenizer,
 * {@code vocab.hex} each id's bytes, {@code model.txt} the preset's shape and {@code export.txt} the options.
 * {@code score} loads the same split again, decodes a file of hypothesis ids (one line per test pair, ids
 * separated by spaces) with that tokenizer and prints exact match, chrF2, BLEU and placeholder accuracy, per
 * group too (the held-out catalogs of {@code --split-by catalog}), computed as {@code train} computes its own
 * ({@link TrainFlow.Scored}, {@link GroupScores}).
 */
public final class TrainPeer {

    private TrainPeer() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length >= 3 && args[0].equals("export")) {
            export(args[1], Path.of(args[2]), options(args, 3));
        } else if (args.length == 3 && args[0].equals("score")) {
            score(Path.of(args[1]), Path.of(args[2]), System.out);
        } else {
            System.err.println("usage: TrainPeer export DATA OUT_DIR [--split-by text|catalog] [--test-size N] "
                    + "[--validation-size N] [--vocab N] [--preset P] [--test-sentences N] [--split-seed S]\n"
                    + "       TrainPeer score OUT_DIR HYPOTHESES.ids");
            System.exit(2);
        }
    }

    private static Map<String, String> options(String[] args, int from) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("--split-by", "text");
        o.put("--test-size", String.valueOf(SplitConfig.DEFAULT_TEST));
        o.put("--validation-size", String.valueOf(SplitConfig.DEFAULT_VALIDATION));
        o.put("--vocab", "4000");
        o.put("--preset", "small");
        o.put("--test-sentences", "1000");
        o.put("--split-seed", String.valueOf(SplitConfig.DEFAULT_SEED));
        for (int i = from; i < args.length; i += 2) {
            if (!o.containsKey(args[i]) || i + 1 >= args.length) {
                throw new IllegalArgumentException("unknown option or missing value: " + args[i]);
            }
            o.put(args[i], args[i + 1]);
        }
        return o;
    }

    static void export(String data, Path dir, Map<String, String> o) throws IOException {
        Dataset ds = load(data, o);
        ByteBpeTokenizer tok = Trainer.trainTokenizer(ds.train(), Integer.parseInt(o.get("--vocab")));
        ModelConfig preset = RandomModels.preset(o.get("--preset"), tok.vocabSize());
        Files.createDirectories(dir);
        writeIds(dir.resolve("train.ids"), ds.train(), tok, preset);
        writeIds(dir.resolve("valid.ids"), ds.validation(), tok, preset);
        List<Pair> test = testPairs(ds, o);
        writeIds(dir.resolve("test.ids"), test, tok, preset);
        List<String> export = new ArrayList<>(List.of("data " + data));
        o.forEach((k, v) -> export.add(k + " " + v));
        Files.write(dir.resolve("export.txt"), export, StandardCharsets.UTF_8);
        List<String> merges = new ArrayList<>();
        for (int i = 0; i < tok.mergeCount(); i++) {
            merges.add(tok.mergeLeft()[i] + " " + tok.mergeRight()[i]);
        }
        Files.write(dir.resolve("merges.txt"), merges);
        List<String> vocab = new ArrayList<>();
        HexFormat hex = HexFormat.of();
        for (int id = 0; id < tok.vocabSize(); id++) {
            vocab.add(ByteBpeTokenizer.isSpecial(id) ? "" : hex.formatHex(tok.bytesOf(id)));
        }
        Files.write(dir.resolve("vocab.hex"), vocab);
        Files.writeString(dir.resolve("model.txt"), String.join("\n",
                "d_model " + preset.dModel(), "heads " + preset.heads(), "d_ff " + preset.dFf(),
                "encoder_layers " + preset.encoderLayers(), "decoder_layers " + preset.decoderLayers(),
                "vocab " + preset.vocabSize(), "max_positions " + preset.maxPositions(),
                "embed_scale_log2 " + preset.embedScaleLog2(), "pad " + preset.padId(), "bos " + preset.bosId(),
                "eos " + preset.eosId(), ""));
        System.out.printf("%s: %,d train / %,d validation / %,d test pairs (%,d written), vocabulary %,d -> %s%n",
                data, ds.train().size(), ds.validation().size(), ds.test().size(), test.size(), tok.vocabSize(), dir);
    }

    private static Dataset load(String data, Map<String, String> o) {
        return DataSpec.parse(data).load(new SplitConfig(Integer.parseInt(o.get("--validation-size")),
                Integer.parseInt(o.get("--test-size")), 0, Long.parseLong(o.get("--split-seed")),
                SplitBy.parse(o.get("--split-by"))));
    }

    private static List<Pair> testPairs(Dataset ds, Map<String, String> o) {
        return ds.test().subList(0, Math.min(Integer.parseInt(o.get("--test-sentences")), ds.test().size()));
    }

    private static void writeIds(Path file, List<Pair> pairs, ByteBpeTokenizer tok, ModelConfig c) throws IOException {
        List<String> lines = new ArrayList<>(pairs.size());
        for (Pair p : pairs) {
            int[] s = Seq2SeqModel.sourceIds(tok, p.source(), c.eosId());
            int[] t = tok.encode(p.target());
            lines.add(join(s) + "\t" + join(t));
        }
        Files.write(file, lines);
    }

    private static String join(int[] ids) {
        StringBuilder b = new StringBuilder(ids.length * 4);
        for (int i = 0; i < ids.length; i++) {
            b.append(i == 0 ? "" : " ").append(ids[i]);
        }
        return b.toString();
    }

    static void score(Path dir, Path hypFile, PrintStream out) throws IOException {
        Map<String, String> o = new LinkedHashMap<>();
        for (String line : Files.readAllLines(dir.resolve("export.txt"), StandardCharsets.UTF_8)) {
            int space = line.indexOf(' ');
            o.put(line.substring(0, space), line.substring(space + 1));
        }
        Dataset ds = load(o.get("data"), o);
        List<Pair> test = testPairs(ds, o);
        List<String> merges = Files.readAllLines(dir.resolve("merges.txt"));
        int[] left = new int[merges.size()];
        int[] right = new int[merges.size()];
        for (int i = 0; i < merges.size(); i++) {
            String[] f = merges.get(i).split(" ");
            left[i] = Integer.parseInt(f[0]);
            right[i] = Integer.parseInt(f[1]);
        }
        ByteBpeTokenizer tok = new ByteBpeTokenizer(left, right);
        List<String> hypLines = Files.readAllLines(hypFile);
        if (hypLines.size() != test.size()) {
            throw new IllegalArgumentException(hypFile + " has " + hypLines.size() + " lines for " + test.size()
                    + " test pairs");
        }
        List<String> hyps = new ArrayList<>();
        for (String line : hypLines) {
            String l = line.strip();
            hyps.add(tok.decode(l.isEmpty() ? new int[0] : Arrays.stream(l.split(" +")).mapToInt(Integer::parseInt).toArray()));
        }
        TrainFlow.Scored scored = new TrainFlow.Scored(test, null);
        out.println(test.size() + " held-out test pairs: " + scored.metrics(hyps));
        if (ds.breakdown() != null) {
            GroupScores g = GroupScores.score(ds.breakdown(), test, hyps);
            out.print(GroupScores.table(List.of("peer"), List.of(g)));
            out.println(g.worstLine());
        }
        for (int i = 0; i < Math.min(8, test.size()); i++) {
            out.println("  " + test.get(i).source() + "\n    -> " + hyps.get(i) + "\n       (reference: "
                    + test.get(i).target() + ")");
        }
    }
}
