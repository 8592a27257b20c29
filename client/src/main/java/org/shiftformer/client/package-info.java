/**
 * The Java client of the shiftformer streaming protocol (PROTOCOL.md): {@link
 * org.shiftformer.client.ShiftformerClient} multiplexes concurrent translation requests on one Netty
 * connection and offers them as futures with listeners, as {@link java.util.concurrent.Flow.Publisher}s
 * with end-to-end backpressure, and as blocking iterators. The frame codec is runtime-core's
 * {@code org.shiftformer.protocol}.
 */
package org.shiftformer.client;
