package org.shiftformer.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;

/**
 * What the manifests must agree with about the server's image, read from its Dockerfile
 * ({@code testcontainers/src/main/docker/Dockerfile}): the user, the exposed ports, the working directory,
 * the entry point and the default command.
 */
record ImageFacts(long uid, long gid, Set<Integer> exposedPorts, String workdir, List<String> entrypoint,
                  List<String> cmd) {

    /**
     * The only executables in the image (build-image.sh: a jlink runtime and a static health check; no
     * shell, no coreutils): an exec probe or hook must run one of these.
     */
    static final Set<String> EXECUTABLES = Set.of("/opt/shiftformer/runtime/bin/java", "/opt/shiftformer/bin/healthcheck");

    static final Path DOCKERFILE = Path.of("..", "testcontainers", "src", "main", "docker", "Dockerfile");

    static ImageFacts read() {
        return read(DOCKERFILE);
    }

    static ImageFacts read(Path dockerfile) {
        String text;
        try {
            text = Files.readString(dockerfile).replace("\\\n", " ");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Matcher user = Pattern.compile("(?m)^USER\\s+(\\d+):(\\d+)\\s*$").matcher(text);
        if (!user.find()) {
            throw new IllegalStateException(dockerfile + ": no numeric USER uid:gid");
        }
        Set<Integer> ports = new TreeSet<>();
        Matcher expose = Pattern.compile("(?m)^EXPOSE\\s+(.+)$").matcher(text);
        while (expose.find()) {
            for (String p : expose.group(1).trim().split("\\s+")) {
                ports.add(Integer.parseInt(p.replace("/tcp", "")));
            }
        }
        Matcher workdir = Pattern.compile("(?m)^WORKDIR\\s+(\\S+)").matcher(text);
        return new ImageFacts(Long.parseLong(user.group(1)), Long.parseLong(user.group(2)), ports,
                workdir.find() ? workdir.group(1) : "/", jsonArray(text, "ENTRYPOINT", dockerfile),
                jsonArray(text, "CMD", dockerfile));
    }

    private static List<String> jsonArray(String text, String instruction, Path dockerfile) {
        Matcher m = Pattern.compile("(?m)^" + instruction + "\\s+(\\[.*\\])\\s*$").matcher(text);
        if (!m.find()) {
            throw new IllegalStateException(dockerfile + ": no " + instruction + " in exec (JSON array) form");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode n : StrictModel.MAPPER.readTree(m.group(1))) {
            out.add(n.asString());
        }
        return out;
    }
}
