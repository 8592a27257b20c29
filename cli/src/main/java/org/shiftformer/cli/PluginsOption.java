package org.shiftformer.cli;

import static org.shiftformer.cli.Main.ERR;

import java.nio.file.Path;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.Plugins;
import picocli.CommandLine.Option;

/**
 * {@code --plugins DIR} of the commands that choose a backend: loads the backend plugin jars of DIR
 * ({@link Plugins}; also the {@code shiftformer.plugins} system property) before the backend is chosen,
 * and warns about each jar that could not be used, naming it and the reason.
 */
final class PluginsOption {
    @Option(names = "--plugins", paramLabel = "DIR",
            description = "load backend plugins: every *.jar of DIR, each in its own class loader seeing only "
                    + "runtime-api (also -D" + Backends.PLUGINS_PROP + "=DIR)")
    Path dir;

    /** Loads the directory, if one was given; prints a warning per jar that could not be used. */
    void load() {
        if (dir == null) {
            return;
        }
        Plugins.Report r = Backends.addPlugins(dir);
        for (String p : r.problems()) {
            ERR.println("warning: " + p);
        }
        ERR.flush();
    }
}
