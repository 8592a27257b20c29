/**
 * {@link org.shiftformer.protocol.flatbuffers.FlatBufferVerifier}: the structural checks of any FlatBuffers
 * buffer that the Java runtime lacks, shared by the frame reader ({@code StreamVerifier}) and runtime-core's
 * artifact reader ({@code ModelVerifier}); each reports with its own error code.
 */
package org.shiftformer.protocol.flatbuffers;
