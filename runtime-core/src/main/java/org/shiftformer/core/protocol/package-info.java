/**
 * The streaming protocol's codec (PROTOCOL.md, schema {@code proto/src/main/fbs/stream.fbs}).
 *
 * <ul>
 *   <li>{@link org.shiftformer.core.protocol.FrameLayout}: the frame's bytes, the only place with offsets;</li>
 *   <li>{@link org.shiftformer.core.protocol.Message}: one immutable record per message type;</li>
 *   <li>{@link org.shiftformer.core.protocol.MessageReader}: frame to message, after a full FlatBuffers
 *       verification ({@code StreamVerifier} over the artifact package's {@code FlatBufferVerifier});</li>
 *   <li>{@link org.shiftformer.core.protocol.MessageWriter}: message to frame, with a reused builder;</li>
 *   <li>{@link org.shiftformer.core.protocol.ProtocolCodec}: the Netty pipeline pieces
 *       ({@link org.shiftformer.core.protocol.FrameDecoder}, {@link org.shiftformer.core.protocol.MessageDecoder},
 *       {@link org.shiftformer.core.protocol.MessageEncoder});</li>
 *   <li>{@link org.shiftformer.core.protocol.ProtocolVersion}: version negotiation for whoever handles Hello.</li>
 * </ul>
 *
 * Malformed input is always a {@link org.shiftformer.api.ShiftformerException} with
 * {@link org.shiftformer.api.ErrorCode#PROTOCOL_ERROR} naming what is wrong; connection rules (Hello
 * first, unique request ids, the terminal-frame rule) belong to the server, not to the codec.
 */
package org.shiftformer.core.protocol;
