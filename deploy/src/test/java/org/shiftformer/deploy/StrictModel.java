package org.shiftformer.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.MappingIterator;
import tools.jackson.databind.cfg.MapperConfig;
import tools.jackson.databind.exc.UnrecognizedPropertyException;
import tools.jackson.databind.introspect.Annotated;
import tools.jackson.databind.introspect.JacksonAnnotationIntrospector;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * Kubernetes objects read strictly into fabric8's model of the Kubernetes API (generated from the API's
 * OpenAPI schema): a field the API does not have fails, naming the file, the object and the field's path.
 *
 * <p>fabric8's types keep unknown fields in an {@code additionalProperties} map (a Jackson any-setter),
 * which would let a misspelt {@code readinesProbe} through unnoticed. This mapper does not see the
 * any-setters, so an unknown field is an error ({@code FAIL_ON_UNKNOWN_PROPERTIES}), as it is for
 * {@code kubectl apply --validate=strict}. Values are typed as well: a port that is not a number or a
 * name, a quantity that does not parse, a list where an object belongs all fail.
 */
final class StrictModel {
    /** The kinds the manifests use, by {@code apiVersion/kind}: anything else is refused. */
    static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "apps/v1/Deployment", Deployment.class,
            "v1/Service", Service.class,
            "v1/PersistentVolumeClaim", PersistentVolumeClaim.class,
            "v1/ConfigMap", ConfigMap.class,
            "policy/v1/PodDisruptionBudget", PodDisruptionBudget.class,
            "autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class,
            "monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class);

    static final YAMLMapper MAPPER = YAMLMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .annotationIntrospector(new JacksonAnnotationIntrospector() {
                @Override
                public Boolean hasAnySetter(MapperConfig<?> config, Annotated a) {
                    return Boolean.FALSE; // no additionalProperties: unknown fields fail
                }
            })
            .build();

    private StrictModel() {
    }

    /** A typed object and where it came from. */
    record Loaded(Path file, HasMetadata object) {
        String describe() {
            return file.getFileName() + " (" + object.getKind() + " " + object.getMetadata().getName() + ")";
        }
    }

    /** Thrown for a document that is not a valid object of the Kubernetes API. */
    static final class InvalidManifest extends RuntimeException {
        InvalidManifest(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Every YAML document of {@code file} (separated by {@code ---}), each read strictly. */
    static List<Loaded> readAll(Path file) {
        List<Loaded> out = new ArrayList<>();
        for (JsonNode doc : documents(file)) {
            out.add(new Loaded(file, read(file, doc)));
        }
        return out;
    }

    /** The documents of a YAML file as trees (empty documents skipped). */
    static List<JsonNode> documents(Path file) {
        List<JsonNode> docs = new ArrayList<>();
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new InvalidManifest(file + ": cannot read: " + e.getMessage(), e);
        }
        try (MappingIterator<JsonNode> it = MAPPER.readerFor(JsonNode.class).readValues(text)) {
            while (it.hasNext()) {
                JsonNode doc = it.next();
                if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                    docs.add(doc);
                }
            }
        } catch (JacksonException e) {
            throw new InvalidManifest(file + ": not valid YAML: " + e.getOriginalMessage(), e);
        }
        return docs;
    }

    /** One document, typed by its {@code apiVersion} and {@code kind}. */
    static HasMetadata read(Path file, JsonNode doc) {
        String apiVersion = doc.path("apiVersion").asString("");
        String kind = doc.path("kind").asString("");
        String name = doc.path("metadata").path("name").asString("");
        String where = file.getFileName() + " (" + kind + " " + name + ")";
        Class<? extends HasMetadata> type = KINDS.get(apiVersion + "/" + kind);
        if (type == null) {
            throw new InvalidManifest(where + ": apiVersion '" + apiVersion + "' kind '" + kind
                    + "' is not one of the kinds these manifests use: " + KINDS.keySet(), null);
        }
        if (name.isEmpty()) {
            throw new InvalidManifest(where + ": metadata.name is missing", null);
        }
        try {
            return MAPPER.treeToValue(doc, type);
        } catch (UnrecognizedPropertyException e) {
            throw new InvalidManifest(where + ": " + path(e) + ": unknown field \"" + e.getPropertyName()
                    + "\" (the Kubernetes API's " + e.getReferringClass().getSimpleName() + " has no such field)", e);
        } catch (JacksonException e) {
            throw new InvalidManifest(where + ": " + path(e) + ": " + firstLine(e.getOriginalMessage()), e);
        }
    }

    /** The failing field's path, as kubectl writes it: spec.template.spec.containers[0].readinesProbe. */
    static String path(JacksonException e) {
        StringBuilder sb = new StringBuilder();
        for (JacksonException.Reference r : e.getPath()) {
            if (r.getPropertyName() != null) {
                if (!sb.isEmpty()) {
                    sb.append('.');
                }
                sb.append(r.getPropertyName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.isEmpty() ? "(document)" : sb.toString();
    }

    private static String firstLine(String s) {
        int nl = s == null ? -1 : s.indexOf('\n');
        return nl < 0 ? String.valueOf(s) : s.substring(0, nl);
    }
}
