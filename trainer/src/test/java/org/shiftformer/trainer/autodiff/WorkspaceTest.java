package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class WorkspaceTest {

    @Test
    void aScopeGetsThePreviousScopesArraysBackZeroedWhenAsked() {
        float[] first;
        float[] second;
        try (var ignored = Workspace.open()) {
            assertTrue(Workspace.active());
            first = Workspace.floats(5000);
            second = Workspace.floatsToOverwrite(3000);
            first[7] = 1f;
            second[7] = 2f;
        }
        assertFalse(Workspace.active());
        try (var ignored = Workspace.open()) {
            float[] again = Workspace.floats(5000);
            assertSame(first, again);
            assertEquals(0f, again[7], "floats() is zeroed");
            float[] over = Workspace.floatsToOverwrite(3000);
            assertSame(second, over);
            assertNotSame(first, Workspace.floats(5000), "one array is lent once per scope");
        }
    }

    @Test
    void outsideAScopeAndForShortArraysTheHeapIsUsed() {
        assertNotSame(Workspace.floats(5000), Workspace.floats(5000));
        try (var ignored = Workspace.open()) {
            float[] small = Workspace.floats(10);
            try (var inner = Workspace.open()) { // nested: only the outermost close recycles
                Workspace.floats(4000);
            }
            assertTrue(Workspace.active());
            assertEquals(10, small.length);
        }
        try (var ignored = Workspace.open()) {
            assertNotSame(Workspace.floats(10), Workspace.floats(10));
        }
    }

    @Test
    void parametersKeepTheirGradientsOnTheHeap() {
        Tensor w = Tensor.param(new float[2048], 2048);
        float[] g;
        try (var ignored = Workspace.open()) {
            Tensor y = Ops.scale(w, 2f);
            y.backward(new float[2048]);
            g = w.grad();
        }
        try (var ignored = Workspace.open()) {
            for (int i = 0; i < 4; i++) {
                assertNotSame(g, Workspace.floatsToOverwrite(2048), "a parameter's gradient is never pooled");
            }
        }
    }
}
