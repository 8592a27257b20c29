package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Plain HTTP to the admin port with the JDK client (every call bounded), and a Prometheus text reader. */
final class Http {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([^}]*)\\})? (\\S+)$");

    private Http() {
    }

    static HttpResponse<String> get(InetSocketAddress admin, String path) throws IOException, InterruptedException {
        return send(admin, path, "GET");
    }

    static HttpResponse<String> post(InetSocketAddress admin, String path) throws IOException, InterruptedException {
        return send(admin, path, "POST");
    }

    static HttpResponse<String> send(InetSocketAddress admin, String path, String method)
            throws IOException, InterruptedException {
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin.getPort() + path))
                .timeout(Duration.ofSeconds(30)).method(method, HttpRequest.BodyPublishers.noBody()).build();
        return CLIENT.send(req, HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The sum of the samples of {@code name} whose labels include every {@code key="value"} pair given;
     * fails if there is none.
     */
    static double sample(String exposition, String name, String... labels) {
        double sum = 0;
        boolean found = false;
        for (String line : exposition.split("\n")) {
            Matcher m = SAMPLE.matcher(line);
            if (line.startsWith("#") || !m.matches() || !m.group(1).equals(name)) {
                continue;
            }
            String have = m.group(3) == null ? "" : m.group(3);
            boolean all = true;
            for (int i = 0; i < labels.length; i += 2) {
                all &= have.contains(labels[i] + "=\"" + labels[i + 1] + "\"");
            }
            if (all) {
                found = true;
                sum += Double.parseDouble(m.group(4));
            }
        }
        if (!found) {
            fail("no sample " + name + " " + String.join(",", labels) + " in:\n" + exposition);
        }
        return sum;
    }
}
