package org.shiftformer.core.server.admin;

import java.util.function.Function;

/** Admin endpoints of a live, ready server with one gauge, whose reloads are what the test says. */
record ReadyEndpoints(Function<String, String> reloads) implements AdminServer.Endpoints {
    @Override
    public boolean live() {
        return true;
    }

    @Override
    public String notReadyReason() {
        return null;
    }

    @Override
    public String scrape() {
        return "# TYPE up gauge\nup 1\n";
    }

    @Override
    public String reload(String path) {
        return reloads.apply(path);
    }
}
