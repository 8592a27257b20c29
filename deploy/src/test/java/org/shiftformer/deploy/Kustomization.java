package org.shiftformer.deploy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import tools.jackson.databind.JsonNode;

/**
 * A kustomization directory as these manifests use it: {@code resources} (files, or directories that are
 * kustomizations themselves), {@code images}, {@code components} and {@code patches}. Reading one loads
 * every resource strictly ({@link StrictModel}); fields kustomize does not have, or that this loader would
 * silently ignore, are refused, so what the tests check is what kustomize builds.
 */
record Kustomization(Path dir, String kind, List<StrictModel.Loaded> resources, Map<String, String> images,
                     List<Path> components, List<Path> patchFiles) {

    /** The fields read here; kustomize knows more, which these manifests do not use. */
    private static final Set<String> KNOWN = Set.of("apiVersion", "kind", "resources", "images", "components",
            "patches");

    static Kustomization load(Path dir) {
        Path file = dir.resolve("kustomization.yaml");
        if (!Files.isRegularFile(file)) {
            throw new StrictModel.InvalidManifest(dir + ": no kustomization.yaml", null);
        }
        List<JsonNode> docs = StrictModel.documents(file);
        if (docs.size() != 1) {
            throw new StrictModel.InvalidManifest(file + ": expected one document, found " + docs.size(), null);
        }
        JsonNode k = docs.get(0);
        Set<String> unknown = new TreeSet<>(k.propertyNames());
        unknown.removeAll(KNOWN);
        if (!unknown.isEmpty()) {
            throw new StrictModel.InvalidManifest(file + ": fields these manifests do not use: " + unknown, null);
        }
        String kind = k.path("kind").asString("");
        String apiVersion = k.path("apiVersion").asString("");
        if (!(kind.equals("Kustomization") && apiVersion.equals("kustomize.config.k8s.io/v1beta1")
                || kind.equals("Component") && apiVersion.equals("kustomize.config.k8s.io/v1alpha1"))) {
            throw new StrictModel.InvalidManifest(file + ": apiVersion '" + apiVersion + "' kind '" + kind
                    + "' is neither a Kustomization (kustomize.config.k8s.io/v1beta1) nor a Component (v1alpha1)", null);
        }
        List<StrictModel.Loaded> resources = new ArrayList<>();
        for (JsonNode r : k.path("resources")) {
            Path p = dir.resolve(r.asString()).normalize();
            if (Files.isDirectory(p)) {
                resources.addAll(load(p).resources());
            } else if (Files.isRegularFile(p)) {
                resources.addAll(StrictModel.readAll(p));
            } else {
                throw new StrictModel.InvalidManifest(file + ": resource '" + r.asString() + "' does not exist", null);
            }
        }
        Map<String, String> images = new java.util.LinkedHashMap<>();
        for (JsonNode i : k.path("images")) {
            images.put(i.path("name").asString(), i.path("newName").asString(i.path("name").asString()) + ":"
                    + i.path("newTag").asString("latest"));
        }
        List<Path> components = new ArrayList<>();
        for (JsonNode c : k.path("components")) {
            components.add(dir.resolve(c.asString()).normalize());
        }
        List<Path> patches = new ArrayList<>();
        for (JsonNode p : k.path("patches")) {
            if (p.has("path")) {
                patches.add(dir.resolve(p.path("path").asString()).normalize());
            }
        }
        return new Kustomization(dir, kind, resources, images, components, patches);
    }
}
