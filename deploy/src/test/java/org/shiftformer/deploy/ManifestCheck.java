package org.shiftformer.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LifecycleHandler;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricSpec;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.Endpoint;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.metrics.ServerMeters;
import tools.jackson.databind.JsonNode;

/**
 * Checks that the manifests agree with each other, with the image and with the server: ports, probes,
 * labels and selectors, the user, the shutdown timing, the file system, the scaling metric. Each problem
 * is a sentence naming the object and the field; an empty list means consistent.
 */
final class ManifestCheck {
    /** The admin endpoints the probes may ask (AdminServer): liveness must be live, readiness ready. */
    static final String LIVE = "/health/live";
    static final String READY = "/health/ready";
    static final String METRICS = "/metrics";

    /**
     * What SIGTERM costs after the drain, at most: the open connections are closed (the server waits up
     * to 5 s), then the admin port and three event loop groups (2 s each at most), then the JVM exits.
     * terminationGracePeriodSeconds must cover preStop + drainTimeoutMs + this, or the kubelet's SIGKILL
     * cuts streams the drain was finishing.
     */
    static final long SHUTDOWN_TAIL_SECONDS = 10;

    /** The gauges the server exports per replica, as Prometheus names them: what an HPA can average. */
    static final Set<String> PER_REPLICA_GAUGES = Set.of(prometheus(ServerMeters.STREAMS_LIVE),
            prometheus(ServerMeters.QUEUE_DEPTH), prometheus(ServerMeters.CONNECTIONS));

    private final List<HasMetadata> objects;
    private final ImageFacts image;
    private final Map<String, String> images;
    private final List<String> problems = new ArrayList<>();

    private ManifestCheck(List<HasMetadata> objects, ImageFacts image, Map<String, String> images) {
        this.objects = objects;
        this.image = image;
        this.images = images;
    }

    /** The problems of {@code objects} (a kustomization's, with its {@code images} entries, or a rendering's). */
    static List<String> problems(List<HasMetadata> objects, ImageFacts image, Map<String, String> images) {
        ManifestCheck c = new ManifestCheck(objects, image, images);
        c.run();
        return c.problems;
    }

    /**
     * Loads the kustomization in {@code dir} strictly and checks it: the problems, or the one that stopped
     * loading (an unknown field, an unknown kind, a missing file).
     */
    static List<String> checkKustomization(Path dir, ImageFacts image) {
        Kustomization k;
        try {
            k = Kustomization.load(dir);
        } catch (StrictModel.InvalidManifest e) {
            return List.of(e.getMessage());
        }
        List<HasMetadata> objects = new ArrayList<>();
        k.resources().forEach(l -> objects.add(l.object()));
        return problems(objects, image, k.images());
    }

    static String prometheus(String micrometerName) {
        return micrometerName.replace('.', '_');
    }

    private void problem(String s) {
        problems.add(s);
    }

    private <T> List<T> all(Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    private void run() {
        List<Deployment> deployments = all(Deployment.class);
        if (deployments.size() != 1) {
            problem("expected one Deployment, found " + deployments.size());
            return;
        }
        Deployment d = deployments.get(0);
        Map<String, String> podLabels = orEmpty(d.getSpec().getTemplate().getMetadata().getLabels());
        String dn = "Deployment " + d.getMetadata().getName();
        if (!selects(d.getSpec().getSelector(), podLabels)) {
            problem(dn + ": spec.selector " + d.getSpec().getSelector().getMatchLabels()
                    + " does not match the pod template's labels " + podLabels);
        }
        PodSpec pod = d.getSpec().getTemplate().getSpec();
        Container c = server(dn, pod);
        if (c == null) {
            return;
        }
        String cn = dn + " container " + c.getName();
        List<String> args = c.getArgs() == null || c.getArgs().isEmpty() ? image.cmd() : c.getArgs();
        if (c.getCommand() != null && !c.getCommand().isEmpty()) {
            problem(cn + ": command replaces the image's entry point (java ... -jar shiftformer.jar serve); set args only");
        }
        checkImage(cn, c);
        int protocolPort = intOption(args, "--port", ServerConfig.PORT_DEFAULT);
        int adminPort = intOption(args, "--admin-port", ServerConfig.ADMIN_PORT_DEFAULT);
        checkPorts(cn, c, args, protocolPort, adminPort);
        boolean tls = option(args, "--tls-cert") != null || jvmProperty(c, ServerConfig.TLS_CERT_FILE_PROP) != null;
        boolean clientCerts = option(args, "--tls-client-ca") != null
                || jvmProperty(c, ServerConfig.TLS_CLIENT_CA_FILE_PROP) != null;
        checkProbe(cn, "startupProbe", c.getStartupProbe(), c, adminPort, Set.of(LIVE, READY), tls);
        checkProbe(cn, "livenessProbe", c.getLivenessProbe(), c, adminPort, Set.of(LIVE), tls);
        checkProbe(cn, "readinessProbe", c.getReadinessProbe(), c, adminPort, Set.of(READY), tls);
        if (tls && clientCerts && !"false".equals(jvmProperty(c, ServerConfig.ADMIN_CLIENT_AUTH_PROP))) {
            problem(cn + ": with --tls-client-ca the admin port requires client certificates, which the kubelet's "
                    + "probes do not send: set -D" + ServerConfig.ADMIN_CLIENT_AUTH_PROP + "=false in JDK_JAVA_OPTIONS");
        }
        checkShutdown(dn, cn, d, c);
        checkSecurity(cn, pod.getSecurityContext(), c.getSecurityContext());
        checkVolumes(cn, pod, c, args);
        checkResources(cn, c);
        checkScrapeAnnotations(dn, d, adminPort, tls);
        for (Service s : all(Service.class)) {
            checkService(s, podLabels, c);
        }
        for (PodDisruptionBudget pdb : all(PodDisruptionBudget.class)) {
            checkPdb(pdb, podLabels);
        }
        for (HorizontalPodAutoscaler hpa : all(HorizontalPodAutoscaler.class)) {
            checkHpa(hpa, d);
        }
        for (ServiceMonitor sm : all(ServiceMonitor.class)) {
            checkServiceMonitor(sm);
        }
    }

    private Container server(String dn, PodSpec pod) {
        List<Container> cs = pod.getContainers();
        if (cs == null || cs.size() != 1) {
            problem(dn + ": expected one container (the server), found " + (cs == null ? 0 : cs.size()));
            return null;
        }
        return cs.get(0);
    }

    private void checkImage(String cn, Container c) {
        String ref = c.getImage();
        if (ref == null || ref.isBlank()) {
            problem(cn + ": no image");
            return;
        }
        if (!images.isEmpty()) {
            String name = ref.contains("@") ? ref.substring(0, ref.indexOf('@')) : ref.replaceFirst(":[^:/]+$", "");
            if (!images.containsKey(name)) {
                problem(cn + ": image '" + ref + "' is not named in the kustomization's images " + images.keySet()
                        + ", so `kustomize edit set image` cannot point it at a registry");
            }
        }
        for (EnvVar e : orEmpty(c.getEnv())) {
            if (e.getName().equals("JAVA_OPTS") || e.getName().equals("JAVA_TOOL_OPTIONS")) {
                problem(cn + ": env " + e.getName() + ": the image's java launcher takes JVM and server options from "
                        + "JDK_JAVA_OPTIONS");
            }
        }
    }

    private void checkPorts(String cn, Container c, List<String> args, int protocolPort, int adminPort) {
        Set<Integer> declared = new LinkedHashSet<>();
        Set<String> names = new LinkedHashSet<>();
        for (ContainerPort p : orEmpty(c.getPorts())) {
            if (!declared.add(p.getContainerPort())) {
                problem(cn + ": containerPort " + p.getContainerPort() + " declared twice");
            }
            if (p.getName() == null || !p.getName().matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?") || p.getName().length() > 15) {
                problem(cn + ": port " + p.getContainerPort() + " needs a name of at most 15 lower-case letters, "
                        + "digits and '-' (an IANA service name), not '" + p.getName() + "'");
            } else if (!names.add(p.getName())) {
                problem(cn + ": port name '" + p.getName() + "' declared twice");
            }
        }
        if (!declared.equals(image.exposedPorts())) {
            problem(cn + ": containerPorts " + declared + " differ from the image's EXPOSE " + image.exposedPorts());
        }
        if (protocolPort != ServerConfig.PORT_DEFAULT || adminPort != ServerConfig.ADMIN_PORT_DEFAULT) {
            problem(cn + ": serve listens on " + protocolPort + " and " + adminPort + ", not the server's defaults "
                    + ServerConfig.PORT_DEFAULT + " and " + ServerConfig.ADMIN_PORT_DEFAULT
                    + " that the image exposes and its health check asks");
        }
        expectPort(cn, c, "protocol", protocolPort);
        expectPort(cn, c, "admin", adminPort);
        String bind = option(args, "--bind");
        if (bind == null ? ServerConfig.BIND_ADDRESS_DEFAULT.startsWith("127.") : bind.startsWith("127.")
                || bind.equals("localhost") || bind.equals("::1")) {
            problem(cn + ": serve binds " + (bind == null ? ServerConfig.BIND_ADDRESS_DEFAULT + " (its default)" : bind)
                    + ": neither the kubelet's probes nor the Service can reach a loopback address; use --bind 0.0.0.0");
        }
    }

    private void expectPort(String cn, Container c, String name, int port) {
        ContainerPort p = orEmpty(c.getPorts()).stream().filter(x -> name.equals(x.getName())).findFirst().orElse(null);
        if (p == null) {
            problem(cn + ": no containerPort named '" + name + "' (the server's " + name + " port, " + port + ")");
        } else if (p.getContainerPort() != port) {
            problem(cn + ": containerPort '" + name + "' is " + p.getContainerPort() + " but serve listens on " + port);
        }
    }

    /** The containerPort a probe, Service or monitor port reference means, or null when none is declared. */
    private static Integer resolve(Container c, IntOrString port) {
        if (port == null) {
            return null;
        }
        for (ContainerPort p : orEmpty(c.getPorts())) {
            if (port.getStrVal() != null ? port.getStrVal().equals(p.getName())
                    : Objects.equals(port.getIntVal(), p.getContainerPort())) {
                return p.getContainerPort();
            }
        }
        return null;
    }

    private void checkProbe(String cn, String which, Probe probe, Container c, int adminPort, Set<String> paths,
                            boolean tls) {
        if (probe == null) {
            problem(cn + ": no " + which);
            return;
        }
        if (probe.getHttpGet() == null) {
            problem(cn + ": " + which + " must be an httpGet on the admin port");
            return;
        }
        IntOrString port = probe.getHttpGet().getPort();
        Integer resolved = resolve(c, port);
        if (resolved == null) {
            problem(cn + ": " + which + " port " + show(port) + " is not a declared containerPort "
                    + orEmpty(c.getPorts()).stream().map(p -> p.getName() + "=" + p.getContainerPort()).toList());
        } else if (resolved != adminPort) {
            problem(cn + ": " + which + " port " + show(port) + " is " + resolved + ", not the admin port " + adminPort
                    + " (the only one that speaks HTTP)");
        }
        String path = probe.getHttpGet().getPath();
        if (!paths.contains(path)) {
            problem(cn + ": " + which + " path '" + path + "' is not " + (paths.size() == 1 ? paths.iterator().next()
                    : "one of " + paths) + " (the admin server answers " + LIVE + ", " + READY + ", " + METRICS + ")");
        }
        String scheme = probe.getHttpGet().getScheme() == null ? "HTTP" : probe.getHttpGet().getScheme();
        if (!scheme.equals(tls ? "HTTPS" : "HTTP")) {
            problem(cn + ": " + which + " scheme " + scheme + " but the admin port speaks " + (tls ? "HTTPS" : "HTTP"));
        }
        if (probe.getTimeoutSeconds() == null || probe.getPeriodSeconds() == null || probe.getFailureThreshold() == null) {
            problem(cn + ": " + which + " should set timeoutSeconds, periodSeconds and failureThreshold");
        }
    }

    private void checkShutdown(String dn, String cn, Deployment d, Container c) {
        long grace = d.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds() == null ? 30
                : d.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds();
        long preStop = 0;
        LifecycleHandler h = c.getLifecycle() == null ? null : c.getLifecycle().getPreStop();
        if (h == null) {
            problem(cn + ": no lifecycle.preStop: SIGTERM would close the protocol port while the endpoint is still "
                    + "in the Service, refusing new connections; sleep a few seconds first");
        } else if (h.getSleep() != null) {
            preStop = h.getSleep().getSeconds();
        } else if (h.getExec() != null) {
            List<String> cmd = orEmpty(h.getExec().getCommand());
            if (cmd.isEmpty() || !ImageFacts.EXECUTABLES.contains(cmd.get(0))) {
                problem(cn + ": lifecycle.preStop runs " + cmd + ", but the image has no shell and no sleep; only "
                        + ImageFacts.EXECUTABLES + ": use preStop.sleep");
            }
        } else {
            problem(cn + ": lifecycle.preStop should be a sleep (the image has no shell)");
        }
        String drainProp = jvmProperty(c, ServerConfig.DRAIN_TIMEOUT_MS_PROP);
        long drainMs = drainProp == null ? ServerConfig.DRAIN_TIMEOUT_MS_DEFAULT : Long.parseLong(drainProp);
        long drain = (drainMs + 999) / 1000;
        if (grace < preStop + drain + SHUTDOWN_TAIL_SECONDS) {
            problem(dn + ": terminationGracePeriodSeconds " + grace + " is less than preStop " + preStop + " s + drain "
                    + drain + " s (" + ServerConfig.DRAIN_TIMEOUT_MS_PROP + ") + " + SHUTDOWN_TAIL_SECONDS
                    + " s to close connections: the kubelet would SIGKILL the server while it drains");
        }
    }

    private void checkSecurity(String cn, PodSecurityContext pod, SecurityContext ctr) {
        pod = pod == null ? new PodSecurityContext() : pod;
        ctr = ctr == null ? new SecurityContext() : ctr;
        Boolean nonRoot = ctr.getRunAsNonRoot() != null ? ctr.getRunAsNonRoot() : pod.getRunAsNonRoot();
        Long uid = ctr.getRunAsUser() != null ? ctr.getRunAsUser() : pod.getRunAsUser();
        Long gid = ctr.getRunAsGroup() != null ? ctr.getRunAsGroup() : pod.getRunAsGroup();
        if (!Boolean.TRUE.equals(nonRoot)) {
            problem(cn + ": runAsNonRoot is not true");
        }
        if (uid == null || uid != image.uid()) {
            problem(cn + ": runAsUser " + uid + " is not the image's user " + image.uid() + " (Dockerfile USER)");
        }
        if (gid != null && gid != image.gid()) {
            problem(cn + ": runAsGroup " + gid + " is not the image's group " + image.gid() + " (Dockerfile USER)");
        }
        if (!Boolean.TRUE.equals(ctr.getReadOnlyRootFilesystem())) {
            problem(cn + ": securityContext.readOnlyRootFilesystem is not true");
        }
        if (!Boolean.FALSE.equals(ctr.getAllowPrivilegeEscalation())) {
            problem(cn + ": securityContext.allowPrivilegeEscalation is not false");
        }
        if (ctr.getCapabilities() == null || !orEmpty(ctr.getCapabilities().getDrop()).contains("ALL")) {
            problem(cn + ": securityContext.capabilities does not drop ALL");
        }
    }

    private void checkVolumes(String cn, PodSpec pod, Container c, List<String> args) {
        Map<String, Volume> volumes = new java.util.LinkedHashMap<>();
        for (Volume v : orEmpty(pod.getVolumes())) {
            volumes.put(v.getName(), v);
        }
        Set<String> mounted = new LinkedHashSet<>();
        for (VolumeMount m : orEmpty(c.getVolumeMounts())) {
            mounted.add(m.getName());
            if (!volumes.containsKey(m.getName())) {
                problem(cn + ": volumeMount '" + m.getName() + "' names no volume of the pod " + volumes.keySet());
            }
        }
        for (String v : volumes.keySet()) {
            if (!mounted.contains(v)) {
                problem(cn + ": volume '" + v + "' is not mounted");
            }
        }
        // With a read-only root the JVM and Netty (its epoll library, unpacked into java.io.tmpdir) write
        // only to the image's working directory /tmp: it must be a writable emptyDir.
        VolumeMount tmp = mountAt(c, image.workdir());
        if (tmp == null || Boolean.TRUE.equals(tmp.getReadOnly()) || volumes.get(tmp.getName()) == null
                || volumes.get(tmp.getName()).getEmptyDir() == null) {
            problem(cn + ": " + image.workdir() + " (java.io.tmpdir and the working directory) needs a writable "
                    + "emptyDir when the root file system is read-only");
        }
        String model = option(args, "--model");
        String modelDir = option(args, "--model-dir");
        if (model == null) {
            problem(cn + ": serve has no --model");
            return;
        }
        String dir = modelDir != null ? modelDir : model.substring(0, Math.max(1, model.lastIndexOf('/')));
        VolumeMount mm = mountAt(c, dir);
        if (mm == null) {
            problem(cn + ": the model directory " + dir + " (of --model " + model + ") is on no volume");
            return;
        }
        if (!Boolean.TRUE.equals(mm.getReadOnly())) {
            problem(cn + ": the model volume '" + mm.getName() + "' should be mounted readOnly");
        }
        Volume mv = volumes.get(mm.getName());
        if (mv != null && mv.getEmptyDir() != null) {
            problem(cn + ": the model volume '" + mm.getName() + "' is an emptyDir: nothing puts a model there");
        }
        if (mv != null && mv.getPersistentVolumeClaim() != null) {
            String claim = mv.getPersistentVolumeClaim().getClaimName();
            if (all(PersistentVolumeClaim.class).stream().noneMatch(p -> p.getMetadata().getName().equals(claim))) {
                problem(cn + ": the model volume's claim '" + claim + "' is not among the resources");
            }
        }
    }

    /** The mount whose path is {@code dir} or a parent of it (the deepest). */
    private static VolumeMount mountAt(Container c, String dir) {
        VolumeMount best = null;
        for (VolumeMount m : orEmpty(c.getVolumeMounts())) {
            String p = m.getMountPath().endsWith("/") ? m.getMountPath() : m.getMountPath() + "/";
            if ((dir + "/").startsWith(p) && (best == null || m.getMountPath().length() > best.getMountPath().length())) {
                best = m;
            }
        }
        return best;
    }

    private void checkResources(String cn, Container c) {
        if (c.getResources() == null) {
            problem(cn + ": no resources");
            return;
        }
        Map<String, Quantity> req = orEmpty(c.getResources().getRequests());
        Map<String, Quantity> lim = orEmpty(c.getResources().getLimits());
        for (String r : List.of("cpu", "memory")) {
            if (!req.containsKey(r)) {
                problem(cn + ": resources.requests." + r + " is missing");
            }
        }
        if (!lim.containsKey("memory")) {
            problem(cn + ": resources.limits.memory is missing (the JVM sizes its heap from it)");
        }
        for (String r : lim.keySet()) {
            if (req.containsKey(r) && lim.get(r).getNumericalAmount().compareTo(req.get(r).getNumericalAmount()) < 0) {
                problem(cn + ": resources.limits." + r + " " + lim.get(r) + " is below the request " + req.get(r));
            }
        }
    }

    private void checkScrapeAnnotations(String dn, Deployment d, int adminPort, boolean tls) {
        Map<String, String> a = orEmpty(d.getSpec().getTemplate().getMetadata().getAnnotations());
        if ("true".equals(a.get("prometheus.io/scrape"))) {
            if (!String.valueOf(adminPort).equals(a.get("prometheus.io/port"))) {
                problem(dn + ": annotation prometheus.io/port " + a.get("prometheus.io/port") + " is not the admin port "
                        + adminPort);
            }
            String scheme = a.getOrDefault("prometheus.io/scheme", "http");
            if (!scheme.equals(tls ? "https" : "http")) {
                problem(dn + ": annotation prometheus.io/scheme " + scheme + " but the admin port speaks "
                        + (tls ? "https" : "http"));
            }
            if (!METRICS.equals(a.getOrDefault("prometheus.io/path", METRICS))) {
                problem(dn + ": annotation prometheus.io/path " + a.get("prometheus.io/path") + " is not " + METRICS);
            }
        }
    }

    private void checkService(Service s, Map<String, String> podLabels, Container c) {
        String sn = "Service " + s.getMetadata().getName();
        Map<String, String> sel = orEmpty(s.getSpec().getSelector());
        if (sel.isEmpty() || !podLabels.entrySet().containsAll(sel.entrySet())) {
            problem(sn + ": selector " + sel + " does not select the Deployment's pods " + podLabels);
        }
        Set<String> names = new LinkedHashSet<>();
        for (ServicePort p : orEmpty(s.getSpec().getPorts())) {
            names.add(p.getName());
            IntOrString target = p.getTargetPort() == null ? new IntOrString(p.getPort()) : p.getTargetPort();
            if (resolve(c, target) == null) {
                problem(sn + ": port '" + p.getName() + "' targetPort " + show(target)
                        + " is not a containerPort of the Deployment");
            }
        }
        for (String n : List.of("protocol", "admin")) {
            if (!names.contains(n)) {
                problem(sn + ": no port named '" + n + "'");
            }
        }
    }

    private void checkPdb(PodDisruptionBudget pdb, Map<String, String> podLabels) {
        String pn = "PodDisruptionBudget " + pdb.getMetadata().getName();
        if (!selects(pdb.getSpec().getSelector(), podLabels)) {
            problem(pn + ": selector " + pdb.getSpec().getSelector().getMatchLabels()
                    + " does not select the Deployment's pods " + podLabels);
        }
        int minReplicas = all(HorizontalPodAutoscaler.class).stream().map(h -> h.getSpec().getMinReplicas())
                .filter(Objects::nonNull).findFirst().orElse(1);
        IntOrString maxUnavailable = pdb.getSpec().getMaxUnavailable();
        IntOrString minAvailable = pdb.getSpec().getMinAvailable();
        boolean allowsOne = maxUnavailable != null && (maxUnavailable.getIntVal() != null
                ? maxUnavailable.getIntVal() >= 1 : !maxUnavailable.getStrVal().equals("0%"))
                || minAvailable != null && minAvailable.getIntVal() != null && minAvailable.getIntVal() < minReplicas;
        if (!allowsOne) {
            problem(pn + ": allows no disruption at " + minReplicas + " replicas: node drains would block");
        }
    }

    private void checkHpa(HorizontalPodAutoscaler hpa, Deployment d) {
        String hn = "HorizontalPodAutoscaler " + hpa.getMetadata().getName();
        var ref = hpa.getSpec().getScaleTargetRef();
        if (!"Deployment".equals(ref.getKind()) || !"apps/v1".equals(ref.getApiVersion())
                || !d.getMetadata().getName().equals(ref.getName())) {
            problem(hn + ": scaleTargetRef " + ref.getApiVersion() + " " + ref.getKind() + " " + ref.getName()
                    + " is not the Deployment apps/v1 " + d.getMetadata().getName());
        }
        if (d.getSpec().getReplicas() != null) {
            problem("Deployment " + d.getMetadata().getName() + ": spec.replicas is set while " + hn
                    + " scales it: every apply would reset the count");
        }
        int min = hpa.getSpec().getMinReplicas() == null ? 1 : hpa.getSpec().getMinReplicas();
        if (min < 2) {
            problem(hn + ": minReplicas " + min + ": one replica cannot drain without an outage");
        }
        if (hpa.getSpec().getMaxReplicas() < min) {
            problem(hn + ": maxReplicas " + hpa.getSpec().getMaxReplicas() + " < minReplicas " + min);
        }
        List<MetricSpec> metrics = orEmpty(hpa.getSpec().getMetrics());
        if (metrics.isEmpty()) {
            problem(hn + ": no metrics");
        }
        for (MetricSpec m : metrics) {
            if (!"Pods".equals(m.getType()) || m.getPods() == null) {
                problem(hn + ": metric of type " + m.getType() + ": scale on a per-replica load metric (type Pods)");
                continue;
            }
            String name = m.getPods().getMetric().getName();
            if (!PER_REPLICA_GAUGES.contains(name)) {
                problem(hn + ": metric '" + name + "' is not a per-replica gauge the server exports " + PER_REPLICA_GAUGES);
            }
            if (!"AverageValue".equals(m.getPods().getTarget().getType()) || m.getPods().getTarget().getAverageValue() == null) {
                problem(hn + ": metric '" + name + "' needs target type AverageValue with an averageValue");
            }
        }
    }

    private void checkServiceMonitor(ServiceMonitor sm) {
        String mn = "ServiceMonitor " + sm.getMetadata().getName();
        List<Service> matched = all(Service.class).stream()
                .filter(s -> selects(sm.getSpec().getSelector(), orEmpty(s.getMetadata().getLabels()))).toList();
        if (matched.isEmpty()) {
            problem(mn + ": selector " + sm.getSpec().getSelector().getMatchLabels() + " matches no Service's labels");
        }
        for (Endpoint e : orEmpty(sm.getSpec().getEndpoints())) {
            for (Service s : matched) {
                if (orEmpty(s.getSpec().getPorts()).stream().noneMatch(p -> Objects.equals(p.getName(), e.getPort()))) {
                    problem(mn + ": endpoint port '" + e.getPort() + "' is not a port name of Service "
                            + s.getMetadata().getName());
                } else if (!"admin".equals(e.getPort())) {
                    problem(mn + ": endpoint port '" + e.getPort() + "' is not the admin port");
                }
            }
            if (!METRICS.equals(e.getPath() == null ? METRICS : e.getPath())) {
                problem(mn + ": endpoint path " + e.getPath() + " is not " + METRICS);
            }
        }
    }

    /**
     * Problems of the Prometheus Adapter rules in {@code adapter} (its {@code config.yaml}) against the HPA
     * metrics of {@code objects}: each HPA metric must be served by a rule whose series is the server's
     * gauge of that name, per pod.
     */
    static List<String> adapterProblems(ConfigMap adapter, List<HasMetadata> objects) {
        List<String> out = new ArrayList<>();
        String config = orEmpty(adapter.getData()).get("config.yaml");
        if (config == null) {
            out.add("ConfigMap " + adapter.getMetadata().getName() + ": no config.yaml");
            return out;
        }
        Map<String, JsonNode> served = new java.util.LinkedHashMap<>();
        Pattern series = Pattern.compile("^\\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*\\{");
        for (JsonNode rule : StrictModel.MAPPER.readTree(config).path("rules")) {
            String as = rule.path("name").path("as").asString("");
            Matcher m = series.matcher(rule.path("seriesQuery").asString(""));
            String metric = m.find() ? m.group(1) : "";
            if (!PER_REPLICA_GAUGES.contains(metric)) {
                out.add("adapter rule '" + as + "': seriesQuery metric '" + metric + "' is not a gauge the server exports "
                        + PER_REPLICA_GAUGES);
            }
            if (!as.equals(metric)) {
                out.add("adapter rule '" + as + "': serves the series '" + metric + "' under another name");
            }
            JsonNode overrides = rule.path("resources").path("overrides");
            if (!"pod".equals(overrides.path("pod").path("resource").asString(""))
                    || !"namespace".equals(overrides.path("namespace").path("resource").asString(""))) {
                out.add("adapter rule '" + as + "': resources.overrides must map the pod and namespace labels");
            }
            served.put(as, rule);
        }
        for (HasMetadata o : objects) {
            if (o instanceof HorizontalPodAutoscaler hpa) {
                for (MetricSpec m : orEmpty(hpa.getSpec().getMetrics())) {
                    if (m.getPods() != null && !served.containsKey(m.getPods().getMetric().getName())) {
                        out.add("HorizontalPodAutoscaler " + hpa.getMetadata().getName() + ": metric '"
                                + m.getPods().getMetric().getName() + "' has no Prometheus Adapter rule " + served.keySet());
                    }
                }
            }
        }
        return out;
    }

    private static boolean selects(LabelSelector s, Map<String, String> labels) {
        if (s == null) {
            return false;
        }
        if (s.getMatchExpressions() != null && !s.getMatchExpressions().isEmpty()) {
            return false; // not used here: a selector by labels only
        }
        Map<String, String> ml = orEmpty(s.getMatchLabels());
        return !ml.isEmpty() && labels.entrySet().containsAll(ml.entrySet());
    }

    /** The value of a serve option ({@code --port 7433} or {@code --port=7433}), or null. */
    static String option(List<String> args, String name) {
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).equals(name) && i + 1 < args.size()) {
                return args.get(i + 1);
            }
            if (args.get(i).startsWith(name + "=")) {
                return args.get(i).substring(name.length() + 1);
            }
        }
        return null;
    }

    private int intOption(List<String> args, String name, int dflt) {
        String v = option(args, name);
        try {
            return v == null ? dflt : Integer.parseInt(v);
        } catch (NumberFormatException e) {
            problem("serve " + name + " '" + v + "' is not a number");
            return -1;
        }
    }

    /** A -D system property in the container's JDK_JAVA_OPTIONS, or null. */
    static String jvmProperty(Container c, String name) {
        for (EnvVar e : orEmpty(c.getEnv())) {
            if (e.getName().equals("JDK_JAVA_OPTIONS") && e.getValue() != null) {
                for (String opt : e.getValue().trim().split("\\s+")) {
                    if (opt.startsWith("-D" + name + "=")) {
                        return opt.substring(name.length() + 3);
                    }
                }
            }
        }
        return null;
    }

    private static String show(IntOrString p) {
        return p == null ? "(none)" : p.getStrVal() != null ? "'" + p.getStrVal() + "'" : String.valueOf(p.getIntVal());
    }

    private static <T> List<T> orEmpty(List<T> l) {
        return l == null ? List.of() : l;
    }

    private static <K, V> Map<K, V> orEmpty(Map<K, V> m) {
        return m == null ? Map.of() : m;
    }
}
