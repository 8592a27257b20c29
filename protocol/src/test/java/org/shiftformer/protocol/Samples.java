package org.shiftformer.protocol;

import java.util.List;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.BackendIdentity;

/** Messages of every body type, with edge values, for the codec tests. */
final class Samples {
    static final BackendIdentity SIM = new BackendIdentity("sim", "cpu", "0.1.0");
    static final String SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    private Samples() {
    }

    /** At least one message of every type; request ids include 0, small ids and the largest ulong. */
    static List<Message> all() {
        ModelConfig config = new ModelConfig(256, 4, 1024, 3, 3, 4000, 128, 4, 0, 1, 2);
        return List.of(
                new Message.Hello(0, 1, 1, "shiftformer-test 0.1.0"),
                new Message.Hello(0, 1, 65535, ""),
                new Message.Welcome(0, 1, "shiftformer", "0.1.0", FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES, 64, 16,
                        new Message.ModelSummary(SHA, SIM, 4000, 128)),
                new Message.Welcome(0, 1, "shiftformer", "0.1.0", 1 << 16, 1, 1, null),
                new Message.ModelInfoRequest(0),
                new Message.ModelInfo(0, config, SHA, SIM, "byte-bpe", "shiftformer-trainer 0.1.0"),
                new Message.ModelInfo(3, null, "", null, "", ""),
                new Message.TranslateRequest(1, "zweihundertdreiundvierzig", null, null, 0, true),
                new Message.TranslateRequest(2, null, new int[] {5, 300, -1, Integer.MAX_VALUE}, new Message.Params(4, 50, 154),
                        2500, false),
                new Message.TranslateRequest(-1L, "Grüße, 世界 🌍", new int[0], Message.Params.DEFAULTS, Integer.MAX_VALUE, true),
                new Message.TranslateRequest(Long.MIN_VALUE, null, null, new Message.Params(0, 0, 65535), 0, true),
                new Message.Token(1, 300, "two", 0, 1234),
                new Message.Token(1, 301, "", 1, 0),
                new Message.Token(-1L, 7, "🌍 ü", Integer.MAX_VALUE, Long.MAX_VALUE),
                new Message.Done(1, 2, true, 0, 1_000, 2_000_000, 3_000_000, 99_999, SIM, SHA, new Message.Params(1, 127, 0),
                        new int[] {300, 301}, "two hundred", ""),
                new Message.Done(2, 0, false, -123_456_789L, 0, 0, 0, 0, null, "", null, new int[0], "", "\uFFFD"),
                new Message.Error(0, ErrorCode.PROTOCOL_ERROR.value(), "frame: unknown message type 99"),
                new Message.Error(5, ErrorCode.DEADLINE_EXCEEDED.value(), "deadline of 10 ms passed"),
                new Message.Error(6, 999, ""),
                new Message.Cancel(1),
                new Message.Cancelled(1, 3),
                new Message.Ping(0, 42),
                new Message.Pong(0, -42L));
    }
}
