/**
 * The streaming protocol's codec, module {@code protocol} (PROTOCOL.md, schema
 * {@code proto/src/main/fbs/stream.fbs}); it depends on {@code proto}, {@code runtime-api} and Netty only.
 *
 * <ul>
 *   <li>{@link org.shiftformer.protocol.FrameLayout}: the frame's bytes, the only place with offsets;</li>
 *   <li>{@link org.shiftformer.protocol.Message}: one immutable record per message type;</li>
 *   <li>{@link org.shiftformer.protocol.MessageReader}: frame to message, after a full FlatBuffers
 *       verification ({@code StreamVerifier} over
 *       {@link org.shiftformer.protocol.flatbuffers.FlatBufferVerifier}, which runtime-core's artifact
 *       reader shares);</li>
 *   <li>{@link org.shiftformer.protocol.MessageWriter}: message to frame, with a reused builder;</li>
 *   <li>{@link org.shiftformer.protocol.ProtocolCodec}: the Netty pipeline pieces
 *       ({@link org.shiftformer.protocol.FrameDecoder}, {@link org.shiftformer.protocol.MessageDecoder},
 *       {@link org.shiftformer.protocol.MessageEncoder});</li>
 *   <li>{@link org.shiftformer.protocol.ProtocolVersion}: version negotiation for whoever handles Hello.</li>
 * </ul>
 *
 * Malformed input is always a {@link org.shiftformer.api.ShiftformerException} with
 * {@link org.shiftformer.api.ErrorCode#PROTOCOL_ERROR} naming what is wrong; connection rules (Hello
 * first, unique request ids, the terminal-frame rule) belong to the server, not to the codec.
 */
package org.shiftformer.protocol;
