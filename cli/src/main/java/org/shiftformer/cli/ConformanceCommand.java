package org.shiftformer.cli;

import static org.shiftformer.cli.Main.OUT;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.shiftformer.api.conformance.ConformanceRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code shiftformer conformance --backend NAME}: the conformance kit against any installed backend (a
 * plugin's too), bit for bit against the scalar reference of SPEC.md: every op on a thousand generated
 * cases (ties and saturation included), whole decodes layer by layer, batch invariance, forked KV caches,
 * error behaviour.
 */
@Command(name = "conformance", mixinStandardHelpOptions = true,
        description = "Check a backend bit for bit against the reference of SPEC.md: every op on generated cases, "
                + "whole decodes, batch invariance, forked KV caches, bad inputs.",
        exitCodeListHeading = "Exit status:%n",
        exitCodeList = {"0:every check bit-exact", "1:a check failed, or the backend could not run the kit (each "
                + "failure names the op, the case, the index and both values)", "2:invalid options, unknown backend"})
final class ConformanceCommand implements Callable<Integer> {
    @Option(names = "--backend", required = true, description = "the backend to check (./shiftformer backends lists them)")
    String backend;
    @Option(names = "--backend-option", description = "backend setting KEY=VALUE (repeatable)")
    Map<String, String> backendOptions = new LinkedHashMap<>();
    @Option(names = "--json", description = "print the report as one JSON object (for CI systems)")
    boolean json;
    @Mixin
    PluginsOption plugins = new PluginsOption();

    @Override
    public Integer call() {
        plugins.load();
        ConformanceRunner.Report r = ConformanceRunner.run(backend, backendOptions);
        OUT.print(json ? r.json() + "\n" : r.text());
        OUT.flush();
        return r.passed() ? 0 : 1;
    }
}
