package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.model.RandomModels;

/**
 * Generates backend-fpga-pcie/README.md's table of modelled decoder-step times ({@link DatapathCycles}, the
 * walk the emulated kernel's own count equals) per preset, batch and target card, prints it with the
 * cards' assumptions, and requires the README to contain exactly that text, so the table stays true.
 * Print it: {@code mvn -B -o -q -pl backend-fpga-pcie -am test -Dfuzz.skip=true -Dtest=FpgaCycleTableTest
 * -Dsurefire.failIfNoSpecifiedTests=false} (it goes to the test's standard output).
 */
class FpgaCycleTableTest {
    /** Every sequence at position 31 (32 cached keys) with a 32-token source, as FPGA-REVIEW.md's estimates. */
    static final int T = 32;
    static final int N = 32;

    static String table() {
        StringBuilder b = new StringBuilder();
        for (DatapathCycles.Card card : DatapathCycles.Card.values()) {
            b.append("- ").append(card.assumptions()).append('\n');
        }
        b.append('\n');
        b.append("| preset | batch | card | loop nest (compute bound) | memory bound | step | tokens/s | binds |\n");
        b.append("|---|---|---|---|---|---|---|---|\n");
        String[] names = {"tiny", "small", "base"};
        int[] vocab = {512, 1000, 8000};
        for (int p = 0; p < names.length; p++) {
            ModelConfig cfg = RandomModels.preset(names[p], vocab[p]);
            for (int batch : new int[] {1, 8, 64}) {
                int[] pos = new int[batch];
                int[] src = new int[batch];
                Arrays.fill(pos, T - 1);
                Arrays.fill(src, N);
                DatapathCycles run = DatapathCycles.decodeStep(cfg, pos, src, false);
                for (DatapathCycles.Card card : DatapathCycles.Card.values()) {
                    double compute = card.computeNanos(run.cycles());
                    double memory = card.memoryNanos(run);
                    double step = card.nanos(run);
                    b.append(String.format(Locale.ROOT, "| %s | %d | %s | %.3f ms (%,d cycles) | %.3f ms | %.3f ms | %,.0f | %s |%n",
                            names[p], batch, card.name(), compute / 1e6, run.cycles(), memory / 1e6, step / 1e6,
                            batch / (step / 1e9), compute >= memory ? "loop nest" : "memory"));
                }
            }
        }
        return b.toString();
    }

    @Test
    void theReadmeShowsTheGeneratedTable() throws IOException {
        String table = table();
        System.out.print(table);
        String readme = Files.readString(Path.of("README.md"));
        assertTrue(readme.contains(table), "backend-fpga-pcie/README.md does not contain the generated table:\n" + table);
    }
}
