package org.shiftformer.trainer.qat;

import java.util.Arrays;
import java.util.List;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.ReferenceModel;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.model.Batch;
import org.shiftformer.trainer.model.Seq2SeqModel;

/**
 * The trainer's promise, checked on real data: the fake-quantized model's int32 logits (teacher forcing)
 * equal, bit for bit, those of the exported integer model computed by the scalar reference of SPEC.md
 * ({@link ReferenceModel}), sequence by sequence.
 */
public final class BitExactCheck {

    private BitExactCheck() {
    }

    /**
     * Compares every logit of every position of the given pairs (sources ending in EOS, targets without
     * BOS/EOS; the decoder input is BOS + target). Returns the number of logits compared.
     *
     * @throws IllegalStateException naming the first sequence, position and token whose logits differ
     */
    public static long check(Seq2SeqModel model, QatNumerics qat, QuantizedModel integer, List<int[]> sources,
                             List<int[]> targets) {
        ReferenceModel ref = new ReferenceModel(TransformerWeights.of(integer));
        int vocab = model.config().vocabSize();
        long compared = 0;
        for (int from = 0; from < sources.size(); from += 16) {
            int to = Math.min(sources.size(), from + 16);
            Batch b = Batch.of(sources.subList(from, to), targets.subList(from, to), model.config());
            int[] logits;
            try (var ignored = Tensor.noGrad()) {
                logits = qat.intLogits(model.logits(b, qat));
            }
            for (int i = 0; i < to - from; i++) {
                int[] src = sources.get(from + i);
                int[] prefix = new int[targets.get(from + i).length + 1];
                prefix[0] = model.config().bosId();
                System.arraycopy(targets.get(from + i), 0, prefix, 1, prefix.length - 1);
                EncodedSource enc = ref.encode(List.of(src), null).sources().get(0);
                int[] expected = ref.recomputeLogits(enc, prefix);
                int[] actual = Arrays.copyOfRange(logits, i * b.tgtLen() * vocab, (i * b.tgtLen() + prefix.length) * vocab);
                int at = Arrays.mismatch(expected, actual);
                if (at >= 0) {
                    throw new IllegalStateException("fake-quantized and integer logits differ: sequence " + (from + i)
                            + ", position " + at / vocab + ", token " + at % vocab + ": integer " + expected[at]
                            + ", fake-quantized " + actual[at]);
                }
                compared += expected.length;
            }
        }
        return compared;
    }
}
