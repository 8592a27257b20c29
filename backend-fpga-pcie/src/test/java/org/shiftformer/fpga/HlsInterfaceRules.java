package org.shiftformer.fpga;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The memory-interface rules of issue 16 item 1 that can be checked without Vitis, applied to the kernel's
 * source text (src/main/hls), its emulation glue and the Vitis connectivity files. Simple lexical rules on
 * comment-free C++, not a parser: they are written for this kernel's style and err on the side of flagging.
 *
 * <ol>
 *   <li>no {@code void*} anywhere in the kernel source;</li>
 *   <li>no pointer- or reference-typed member in any struct or class (descriptors hold offsets into a named
 *       port, never an address that could reach two bundles);</li>
 *   <li>no null pointer: no {@code nullptr}/{@code NULL}, no pointer initialised to {@code 0} or by {@code cond ? p : 0};</li>
 *   <li>the top-level function returns {@code void} (a card ignores {@code ap_return}), every pointer
 *       parameter has a fixed-width element type ({@code [u]intN_t}, {@code ap_uint<N>}, {@code hls::vector}),
 *       an {@code m_axi} INTERFACE pragma with a {@code bundle=} of its own (no two ports share a bundle) and
 *       an {@code s_axilite} one for its base address; every scalar and the return have {@code s_axilite};
 *       no pragma names a port that does not exist;</li>
 *   <li>the header declares the top-level function with the same parameters as the definition, the
 *       emulation's argument table lists them in the same order, and every connectivity file places
 *       exactly the {@code m_axi} ports;</li>
 *   <li>a 512-bit word port ({@code word512_t*}, issue 16 items 1 and 2) is allowed only when the sources
 *       define {@code word512_t} as {@code ap_uint<512>} under {@code __SYNTHESIS__} and assert it is 64
 *       bytes, and outside the file defining it a {@code word512_t*} is never indexed nor offset: it is
 *       read and written only through the segment functions ({@code rd_bytes}, {@code wr_bytes}) into and
 *       out of on-chip arrays, so every access is a burst of whole beats;</li>
 *   <li>every {@code m_axi} INTERFACE pragma has a positive {@code depth=} (the port's size in elements, which
 *       vitis_hls C/RTL co-simulation allocates; HlsInterfaceRulesTest checks the values against the host's
 *       buffer sizes);</li>
 *   <li>every loop whose bound is not a literal or an upper-case constant ({@code i < PE_R}) has a
 *       {@code LOOP_TRIPCOUNT} pragma with {@code min=} and {@code max=} (0 <= min <= max, max > 0) in its
 *       body, before any nested loop; a {@code while} loop always needs one;</li>
 *   <li>weight stripes (issue 16 item 1): the ports named {@code wstripeN} are numbered 0, 1, ... without a gap,
 *       at least two, each a read-only {@code const} port with a bundle of its own (no other port, stripe or
 *       not, uses it); in a connectivity file that puts them on HBM, no stripe's pseudo-channels overlap
 *       another port's (a shared pseudo-channel would share its bandwidth: no striping).</li>
 *   <li>trip-count maxima are the loops' limits ({@link #tripcountsMatchLimits}): a loop with a run-time bound and a
 *       {@code LOOP_TRIPCOUNT} has the form {@code for (T v = START; v < BOUND; v++ | v += STEP)}, its bound is
 *       clamped to a compile-time limit, and the pragma's {@code max=} is the largest trip count that limit allows,
 *       {@code ceil((LIMIT - START) / STEP)} (START 0 when it is not a constant). The limit of a bound is found
 *       lexically: a constant ({@code constexpr}/{@code const} integers and enum values of the sources), a
 *       {@code min32}/{@code min64} with a constant argument, a local variable declared (before the loop, in the
 *       same function) from such an expression, or a parameter whose argument has a limit at every call of the
 *       function; {@code +}, {@code *}, {@code /} and {@code %} by constants, {@code <<} and casts pass limits
 *       through, and {@code a - b} keeps the limit of {@code a} (every quantity a loop counts is non-negative). A
 *       struct member ({@code p.blocks}) or any other call has none: clamp it where it is used. A {@code while}
 *       loop has no limit.</li>
 * </ol>
 */
final class HlsInterfaceRules {
    static final String TOP = "shiftformer_step";
    private static final Pattern ELEMENT_TYPE = Pattern.compile(
            "(const\\s+)?(u?int(8|16|32|64)_t|ap_u?int<\\d+>|hls::vector<[\\w:]+,\\s*\\d+>)\\s*\\*");
    private static final Pattern WORD_TYPE = Pattern.compile("(const\\s+)?word512_t\\s*\\*");
    private static final Pattern WORD_SYNTH = Pattern.compile(
            "#ifdef\\s+__SYNTHESIS__[^#]*(?:#include[^\\n]*\\n[^#]*)*typedef\\s+ap_uint<512>\\s+word512_t\\s*;");
    private static final Pattern WORD_SIZE = Pattern.compile("static_assert\\s*\\(\\s*sizeof\\s*\\(\\s*word512_t\\s*\\)\\s*==\\s*64");

    private HlsInterfaceRules() {
    }

    /**
     * The violations of the kernel sources.
     *
     * @param kernel       file name to text of every src/main/hls file (.h and .cpp)
     * @param glue         the emulation glue registering the kernel's argument table (shiftformer_emu.cpp)
     * @param connectivity file name to text of each Vitis connectivity file
     */
    static List<String> check(Map<String, String> kernel, String glue, Map<String, String> connectivity) {
        List<String> bad = new ArrayList<>();
        Map<String, String> code = new LinkedHashMap<>();
        kernel.forEach((name, text) -> code.put(name, stripComments(text)));
        bad.addAll(tripcountsMatchLimits(code));
        code.forEach((name, text) -> {
            bad.addAll(loopsWithoutTripcount(name, text));
            if (Pattern.compile("\\bvoid\\s*\\*").matcher(text).find()) {
                bad.add(name + ": void* (rule 1)");
            }
            for (String member : pointerMembers(text)) {
                bad.add(name + ": pointer or reference member '" + member + "' in a struct (rule 2)");
            }
            if (Pattern.compile("\\b(nullptr|NULL)\\b").matcher(text).find()) {
                bad.add(name + ": nullptr/NULL (rule 3)");
            }
            Matcher nullInit = Pattern.compile("\\w\\s*\\*\\s*(\\w+)\\s*=\\s*(?:[^;]*\\?[^;]*:\\s*)?0\\s*;").matcher(text);
            while (nullInit.find()) {
                bad.add(name + ": pointer '" + nullInit.group(1) + "' may be null (rule 3)");
            }
        });
        String wordFile = null;
        for (Map.Entry<String, String> e : code.entrySet()) {
            if (WORD_SYNTH.matcher(e.getValue()).find() && WORD_SIZE.matcher(e.getValue()).find()) {
                wordFile = e.getKey();
            }
        }
        for (Map.Entry<String, String> e : code.entrySet()) {
            if (e.getKey().equals(wordFile)) {
                continue;
            }
            Matcher port = Pattern.compile("word512_t\\s*\\*\\s*(\\w+)").matcher(e.getValue());
            java.util.Set<String> ports = new java.util.TreeSet<>();
            while (port.find()) {
                ports.add(port.group(1));
            }
            for (String p : ports) {
                if (Pattern.compile("\\b" + p + "\\s*\\[|\\b" + p + "\\s*[-+](?![-+=])|[-+]\\s*" + p + "\\b").matcher(e.getValue()).find()) {
                    bad.add(e.getKey() + ": word port " + p + " is indexed or offset; use rd_bytes/wr_bytes (rule 6)");
                }
            }
        }
        boolean wordDefined = wordFile != null;
        String definition = null;
        String definitionFile = null;
        String declaration = null;
        for (Map.Entry<String, String> e : code.entrySet()) {
            Matcher m = Pattern.compile("extern\\s+\"C\"\\s+(?:\\{\\s*)?([\\w\\s]+?)\\s+" + TOP + "\\s*\\(([^)]*)\\)\\s*([{;])")
                    .matcher(e.getValue());
            while (m.find()) {
                if (!m.group(1).trim().equals("void")) {
                    bad.add(e.getKey() + ": " + TOP + " returns '" + m.group(1).trim() + "', not void (rule 4)");
                }
                if (m.group(3).equals("{")) {
                    definition = m.group(2);
                    definitionFile = e.getKey();
                    bad.addAll(checkPorts(e.getKey(), m.group(2), body(e.getValue(), m.end() - 1), connectivity, glue,
                            wordDefined));
                } else {
                    declaration = m.group(2);
                }
            }
        }
        if (definition == null) {
            bad.add("no definition of extern \"C\" " + TOP + " found (rule 4)");
        } else if (declaration == null || !normalise(declaration).equals(normalise(definition))) {
            bad.add(definitionFile + ": the header's declaration of " + TOP + " differs from its definition (rule 5)");
        }
        return bad;
    }

    private static List<String> checkPorts(String file, String params, String body, Map<String, String> connectivity,
                                           String glue, boolean wordDefined) {
        List<String> bad = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<String> pointers = new ArrayList<>();
        for (String p : params.split(",")) {
            String param = p.trim().replaceAll("\\s+", " ");
            Matcher name = Pattern.compile("(\\w+)$").matcher(param);
            if (!name.find()) {
                bad.add(file + ": unreadable parameter '" + param + "' (rule 4)");
                continue;
            }
            String n = name.group(1);
            names.add(n);
            String type = param.substring(0, param.length() - n.length()).trim();
            if (type.contains("*")) {
                pointers.add(n);
                if (WORD_TYPE.matcher(type).matches()) {
                    if (!wordDefined) {
                        bad.add(file + ": port " + n + " is a word512_t, which no source defines as ap_uint<512> under"
                                + " __SYNTHESIS__ with a 64-byte static_assert (rule 6)");
                    }
                } else if (!ELEMENT_TYPE.matcher(type).matches()) {
                    bad.add(file + ": port " + n + " has type '" + type + "', not a fixed-width element type (rule 4)");
                }
            } else if (type.contains("&")) {
                bad.add(file + ": parameter " + n + " is a reference (rule 4)");
            }
        }
        Map<String, String> bundles = new HashMap<>();
        Map<String, Boolean> lite = new HashMap<>();
        Matcher pragma = Pattern.compile("#pragma\\s+HLS\\s+INTERFACE\\s+(\\w+)([^\\n]*)").matcher(body);
        while (pragma.find()) {
            String mode = pragma.group(1);
            Matcher port = Pattern.compile("\\bport=(\\w+)").matcher(pragma.group(2));
            if (!port.find()) {
                bad.add(file + ": INTERFACE pragma without port= (rule 4)");
                continue;
            }
            String p = port.group(1);
            if (!p.equals("return") && !names.contains(p)) {
                bad.add(file + ": INTERFACE pragma names port " + p + ", which is no parameter (rule 4)");
            }
            if (mode.equals("m_axi")) {
                Matcher depth = Pattern.compile("\\bdepth=(\\d+)\\b").matcher(pragma.group(2));
                if (!depth.find() || Long.parseLong(depth.group(1)) < 1) {
                    bad.add(file + ": m_axi port " + p + " has no positive depth= (rule 7)");
                }
                Matcher bundle = Pattern.compile("\\bbundle=(\\w+)").matcher(pragma.group(2));
                if (!pointers.contains(p)) {
                    bad.add(file + ": m_axi on " + p + ", which is not a pointer (rule 4)");
                } else if (!bundle.find()) {
                    bad.add(file + ": m_axi port " + p + " has no bundle= (rule 4)");
                } else {
                    for (Map.Entry<String, String> other : bundles.entrySet()) {
                        if (other.getValue().equals(bundle.group(1))) {
                            bad.add(file + ": ports " + other.getKey() + " and " + p + " share bundle " + bundle.group(1) + " (rule 4)");
                        }
                    }
                    bundles.put(p, bundle.group(1));
                }
            } else if (mode.equals("s_axilite")) {
                lite.put(p, true);
            }
        }
        for (String n : names) {
            if (pointers.contains(n) && !bundles.containsKey(n)) {
                bad.add(file + ": pointer port " + n + " has no m_axi INTERFACE pragma with a bundle (rule 4)");
            }
            if (!lite.containsKey(n)) {
                bad.add(file + ": " + n + " has no s_axilite INTERFACE pragma (rule 4)");
            }
        }
        if (!lite.containsKey("return")) {
            bad.add(file + ": no s_axilite INTERFACE pragma for return (rule 4)");
        }
        List<String> table = new ArrayList<>();
        Matcher arg = Pattern.compile("\\{\\s*\"(\\w+)\",\\s*XRT_EMU_ARG_").matcher(stripComments(glue));
        while (arg.find()) {
            table.add(arg.group(1));
        }
        if (!table.equals(names)) {
            bad.add("the emulation's argument table " + table + " differs from the parameters " + names + " (rule 5)");
        }
        bad.addAll(checkStripes(file, params, bundles, connectivity));
        connectivity.forEach((cfg, text) -> {
            List<String> placed = new ArrayList<>();
            Matcher sp = Pattern.compile("(?m)^sp=\\w+\\.(\\w+):").matcher(text);
            while (sp.find()) {
                placed.add(sp.group(1));
            }
            if (!new java.util.TreeSet<>(placed).equals(new java.util.TreeSet<>(pointers)) || placed.size() != pointers.size()) {
                bad.add(cfg + ": places " + placed + ", the m_axi ports are " + pointers + " (rule 5)");
            }
        });
        return bad;
    }

    private static final Pattern STRIPE = Pattern.compile("wstripe(\\d+)");
    private static final Pattern HBM = Pattern.compile("(?m)^sp=\\w+\\.(\\w+):HBM\\[(\\d+)(?::(\\d+))?]");

    /** Rule 9 on the top-level parameters, their bundles and the connectivity files. */
    private static List<String> checkStripes(String file, String params, Map<String, String> bundles,
                                             Map<String, String> connectivity) {
        List<String> bad = new ArrayList<>();
        java.util.TreeMap<Integer, String> stripes = new java.util.TreeMap<>();
        for (String p : params.split(",")) {
            String param = p.trim().replaceAll("\\s+", " ");
            Matcher name = Pattern.compile("(\\w+)$").matcher(param);
            if (name.find() && STRIPE.matcher(name.group(1)).matches()) {
                Matcher n = STRIPE.matcher(name.group(1));
                n.matches();
                stripes.put(Integer.parseInt(n.group(1)), name.group(1));
                if (!param.startsWith("const ")) {
                    bad.add(file + ": stripe port " + name.group(1) + " is not const: stripes are read-only (rule 9)");
                }
            }
        }
        if (stripes.isEmpty()) {
            return bad;
        }
        if (stripes.size() < 2 || stripes.firstKey() != 0 || stripes.lastKey() != stripes.size() - 1) {
            bad.add(file + ": stripe ports " + stripes.values() + " are not wstripe0 .. wstripe" + (stripes.size() - 1)
                    + ", at least two (rule 9)");
        }
        for (String stripe : stripes.values()) {
            String bundle = bundles.get(stripe);
            if (bundle == null) {
                bad.add(file + ": stripe port " + stripe + " has no m_axi bundle of its own (rule 9)");
                continue;
            }
            bundles.forEach((other, b) -> {
                if (!other.equals(stripe) && b.equals(bundle)) {
                    bad.add(file + ": stripe port " + stripe + " shares bundle " + bundle + " with " + other + " (rule 9)");
                }
            });
        }
        connectivity.forEach((cfg, text) -> {
            Map<String, int[]> pcs = new LinkedHashMap<>();
            Matcher m = HBM.matcher(text);
            while (m.find()) {
                int lo = Integer.parseInt(m.group(2));
                pcs.put(m.group(1), new int[] {lo, m.group(3) == null ? lo : Integer.parseInt(m.group(3))});
            }
            for (String stripe : stripes.values()) {
                int[] r = pcs.get(stripe);
                if (r == null) {
                    continue;
                }
                pcs.forEach((other, o) -> {
                    if (!other.equals(stripe) && o[0] <= r[1] && r[0] <= o[1]) {
                        bad.add(cfg + ": stripe port " + stripe + " shares HBM pseudo-channels with " + other + " (rule 9)");
                    }
                });
            }
        });
        return bad;
    }

    private static final Pattern LOOP = Pattern.compile("\\b(for|while)\\s*\\(");
    private static final Pattern FIXED_BOUND = Pattern.compile("\\s*\\w+\\s*(<|<=|!=)\\s*(\\d+|[A-Z][A-Z0-9_]*)\\s*");
    private static final Pattern TRIPCOUNT = Pattern.compile(
            "#pragma\\s+HLS\\s+LOOP_TRIPCOUNT\\s+min=(\\d+)\\s+max=(\\d+)");

    /**
     * A loop of the source: {@code for} or {@code while}, its header, where it is (for messages), its header's three
     * parts (a {@code for} loop), whether its bound is a constant, and the top of its braced body before any nested
     * loop (null without a braced body).
     */
    private record Loop(String kind, int at, String where, String[] parts, boolean fixed, String top) {
    }

    private static List<Loop> loops(String file, String code) {
        List<Loop> out = new ArrayList<>();
        Matcher m = LOOP.matcher(code);
        while (m.find()) {
            int close = matching(code, m.end() - 1, '(', ')');
            String header = code.substring(m.end(), close);
            int line = 1 + (int) code.substring(0, m.start()).chars().filter(c -> c == '\n').count();
            String where = file + ":" + line + ": loop '" + m.group(1) + " (" + header.replaceAll("\\s+", " ").trim() + ")'";
            String[] parts = header.split(";", -1);
            boolean fixed = m.group(1).equals("for") && parts.length == 3 && FIXED_BOUND.matcher(parts[1]).matches();
            int open = close + 1;
            while (open < code.length() && Character.isWhitespace(code.charAt(open))) {
                open++;
            }
            String top = null;
            if (open < code.length() && code.charAt(open) == '{') {
                String body = body(code, open);
                Matcher nested = LOOP.matcher(body);
                top = nested.find() ? body.substring(0, nested.start()) : body;
            }
            out.add(new Loop(m.group(1), m.start(), where, parts, fixed, top));
        }
        return out;
    }

    /** Loops with a run-time bound and no LOOP_TRIPCOUNT pragma (min, max) at the top of their body (rule 8). */
    static List<String> loopsWithoutTripcount(String file, String code) {
        List<String> out = new ArrayList<>();
        for (Loop l : loops(file, code)) {
            if (l.kind.equals("for") && l.parts.length != 3) {
                out.add(l.where + " is unreadable (rule 8)");
                continue;
            }
            if (l.fixed) {
                continue;
            }
            if (l.top == null) {
                out.add(l.where + " has a run-time bound and no braced body for a LOOP_TRIPCOUNT pragma (rule 8)");
                continue;
            }
            Matcher tc = TRIPCOUNT.matcher(l.top);
            if (!tc.find()) {
                out.add(l.where + " has a run-time bound and no LOOP_TRIPCOUNT min= max= pragma (rule 8)");
            } else if (Long.parseLong(tc.group(2)) < 1 || Long.parseLong(tc.group(1)) > Long.parseLong(tc.group(2))) {
                out.add(l.where + ": LOOP_TRIPCOUNT min=" + tc.group(1) + " max=" + tc.group(2) + " is no range (rule 8)");
            }
        }
        return out;
    }

    /**
     * Rule 10 on comment-free sources (file name to text): every loop with a run-time bound and a
     * {@code LOOP_TRIPCOUNT} pragma has a clamped bound whose largest trip count is the pragma's {@code max=}.
     * Loops without the pragma (or unreadable) are rule 8's.
     */
    static List<String> tripcountsMatchLimits(Map<String, String> code) {
        List<String> out = new ArrayList<>();
        Limits limits = new Limits(code);
        code.forEach((file, text) -> {
            for (Loop l : loops(file, text)) {
                Matcher tc = l.top == null || l.fixed ? null : TRIPCOUNT.matcher(l.top);
                if (tc == null || !tc.find() || (l.kind.equals("for") && l.parts.length != 3)) {
                    continue;
                }
                long max = Long.parseLong(tc.group(2));
                Long trips = l.kind.equals("while") ? null : limits.trips(file, l.at, l.parts);
                if (l.kind.equals("while")) {
                    out.add(l.where + " is a while loop: no compile-time limit for its LOOP_TRIPCOUNT max=" + max + " (rule 10)");
                } else if (trips == null) {
                    out.add(l.where + " has no bound clamped to a compile-time limit (min32/min64 with a constant, where it"
                            + " is computed or passed) for its LOOP_TRIPCOUNT max=" + max + " (rule 10)");
                } else if (trips != max) {
                    out.add(l.where + ": LOOP_TRIPCOUNT max=" + max + ", but its clamped bound allows " + trips
                            + " iterations (rule 10)");
                }
            }
        });
        return out;
    }

    /**
     * The integer constants of comment-free sources: {@code constexpr} and {@code const} integer definitions and enum
     * values (implicit ones count up), evaluated in order of definition across the files.
     */
    static Map<String, Long> constants(Map<String, String> code) {
        Map<String, Long> known = new HashMap<>();
        List<String[]> pending = new ArrayList<>();
        Pattern def = Pattern.compile("\\b(?:constexpr|const)\\s+(?:u?int(?:8|16|32|64)_t|int|long)\\s+([A-Za-z_]\\w*)\\s*=\\s*([^;{}]+);");
        Pattern en = Pattern.compile("\\benum\\s+\\w+\\s*(?::\\s*\\w+)?\\s*\\{([^}]*)}");
        for (String text : code.values()) {
            Matcher d = def.matcher(text);
            while (d.find()) {
                pending.add(new String[] {d.group(1), d.group(2)});
            }
            Matcher e = en.matcher(text);
            while (e.find()) {
                String previous = null;
                for (String item : e.group(1).split(",")) {
                    String it = item.trim();
                    if (it.isEmpty()) {
                        continue;
                    }
                    int eq = it.indexOf('=');
                    String name = (eq < 0 ? it : it.substring(0, eq)).trim();
                    String expr = eq < 0 ? (previous == null ? "0" : "(" + previous + ") + 1") : it.substring(eq + 1);
                    pending.add(new String[] {name, expr});
                    previous = name;
                }
            }
        }
        boolean progress = true;
        while (progress && !pending.isEmpty()) {
            progress = false;
            for (java.util.Iterator<String[]> it = pending.iterator(); it.hasNext(); ) {
                String[] p = it.next();
                Long v = new Expr(p[1], known::get, null).parse();
                if (v != null) {
                    known.put(p[0], v);
                    it.remove();
                    progress = true;
                }
            }
        }
        return known;
    }

    /** Limits of loop bounds (rule 10): constants, clamps, local declarations and call sites. */
    private static final class Limits {
        private static final Pattern FUNCTION = Pattern.compile("\\b([A-Za-z_]\\w*)\\s*\\(([^(){};]*)\\)\\s*(?:const\\s*)?\\{");
        private static final java.util.Set<String> KEYWORDS = java.util.Set.of("if", "for", "while", "switch", "return", "sizeof");
        private static final Pattern TYPE = Pattern.compile(
                "^(?:const\\s+)?(?:u?int(?:8|16|32|64)_t|int|long|bool|auto)\\s+(.*)$", Pattern.DOTALL);
        private final Map<String, String> code;
        private final Map<String, Long> constants;
        private final List<Function> functions = new ArrayList<>();

        private record Function(String name, String file, List<String> params, int start, int open, int close) {
        }

        Limits(Map<String, String> code) {
            this.code = code;
            this.constants = constants(code);
            code.forEach((file, text) -> {
                Matcher f = FUNCTION.matcher(text);
                while (f.find()) {
                    if (KEYWORDS.contains(f.group(1))) {
                        continue;
                    }
                    List<String> params = new ArrayList<>();
                    for (String p : f.group(2).split(",")) {
                        Matcher n = Pattern.compile("(\\w+)\\s*(?:\\[[^\\]]*]\\s*)*$").matcher(p.trim());
                        params.add(n.find() ? n.group(1) : "");
                    }
                    functions.add(new Function(f.group(1), file, params, f.start(), f.end() - 1,
                            matching(text, f.end() - 1, '{', '}')));
                }
            });
        }

        /** The largest trip count of a for loop at {@code at} with header parts (init, condition, step), or null. */
        Long trips(String file, int at, String[] parts) {
            Matcher init = Pattern.compile("^\\s*(?:[\\w:]+\\s+)?(\\w+)\\s*=\\s*(.+?)\\s*$", Pattern.DOTALL).matcher(parts[0]);
            if (!init.matches()) {
                return null;
            }
            String v = init.group(1);
            Matcher cond = Pattern.compile("^\\s*" + v + "\\s*<\\s*(.+?)\\s*$", Pattern.DOTALL).matcher(parts[1]);
            Matcher step = Pattern.compile("^\\s*(?:" + v + "\\s*\\+\\+|\\+\\+\\s*" + v + "|" + v + "\\s*\\+=\\s*(.+?))\\s*$",
                    Pattern.DOTALL).matcher(parts[2]);
            if (!cond.matches() || !step.matches()) {
                return null;
            }
            Long by = step.group(1) == null ? Long.valueOf(1) : constant(step.group(1));
            Long start = constant(init.group(2));
            Long limit = limit(cond.group(1), file, at, 0);
            if (by == null || by < 1 || limit == null) {
                return null;
            }
            long span = limit - (start == null ? 0 : start);
            return span <= 0 ? 0 : (span + by - 1) / by;
        }

        private Long constant(String expr) {
            return new Expr(expr, constants::get, null).parse();
        }

        /** An upper bound of {@code expr} as it stands at {@code at} in {@code file}, or null. */
        private Long limit(String expr, String file, int at, int depth) {
            if (depth > 6) {
                return null;
            }
            return new Expr(expr, constants::get, name -> variable(name, file, at, depth)).parse();
        }

        /** A local declared before {@code at} in its function, or a parameter resolved at every call. */
        private Long variable(String name, String file, int at, int depth) {
            if (!name.matches("[A-Za-z_]\\w*")) {
                return null; // a struct member: no limit
            }
            Function f = enclosing(file, at);
            if (f == null) {
                return null;
            }
            String text = code.get(file);
            String before = text.substring(f.open + 1, at);
            String declared = null;
            int declaredAt = -1;
            int statement = 0;
            int parens = 0;
            for (int i = 0; i <= before.length(); i++) {
                char c = i < before.length() ? before.charAt(i) : ';';
                if (c == '(') {
                    parens++;
                } else if (c == ')') {
                    parens--;
                } else if (parens == 0 && (c == ';' || c == '{' || c == '}')) {
                    if (c == ';') {
                        Matcher t = TYPE.matcher(before.substring(statement, i).replaceAll("(?m)^\\s*#.*$", "").trim());
                        if (t.matches()) {
                            for (String decl : splitTop(t.group(1))) {
                                Matcher d = Pattern.compile("^\\s*" + name + "\\s*=\\s*(.+)$", Pattern.DOTALL).matcher(decl);
                                if (d.matches()) {
                                    declared = d.group(1);
                                    declaredAt = f.open + 1 + statement;
                                }
                            }
                        }
                    }
                    statement = i + 1;
                }
            }
            if (declared != null) {
                return limit(declared, file, declaredAt, depth + 1);
            }
            int index = f.params.indexOf(name);
            if (index < 0) {
                return null;
            }
            Long max = null;
            for (Map.Entry<String, String> e : code.entrySet()) {
                Matcher call = Pattern.compile("\\b" + f.name + "\\s*(?:<[^<>();]*>)?\\s*\\(").matcher(e.getValue());
                while (call.find()) {
                    if (e.getKey().equals(f.file) && call.start() == f.start) {
                        continue; // the definition itself
                    }
                    Function caller = enclosing(e.getKey(), call.start());
                    if (caller == null) {
                        continue; // a declaration
                    }
                    int close = matching(e.getValue(), call.end() - 1, '(', ')');
                    List<String> args = splitTop(e.getValue().substring(call.end(), close));
                    if (args.size() != f.params.size()) {
                        return null;
                    }
                    Long l = limit(args.get(index), e.getKey(), call.start(), depth + 1);
                    if (l == null) {
                        return null;
                    }
                    max = max == null ? l : Math.max(max, l);
                }
            }
            return max;
        }

        private Function enclosing(String file, int at) {
            Function best = null;
            for (Function f : functions) {
                if (f.file.equals(file) && f.open < at && at < f.close && (best == null || f.open > best.open)) {
                    best = f;
                }
            }
            return best;
        }
    }

    /** {@code text} split at commas outside parentheses and brackets. */
    private static List<String> splitTop(String text) {
        List<String> out = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '(' || c == '[') {
                depth++;
            } else if (c == ')' || c == ']') {
                depth--;
            } else if (c == ',' && depth == 0) {
                out.add(text.substring(start, i));
                start = i + 1;
            }
        }
        out.add(text.substring(start));
        return out;
    }

    /**
     * An integer expression of the kernel's style, evaluated exactly (constants only) or, given the limits of
     * run-time names ({@code variables}), as an upper bound: {@code +}, {@code *}, {@code <<} and casts pass limits
     * through; the right operand of {@code /}, {@code >>} must be a constant; {@code a - b} subtracts a constant
     * {@code b} and otherwise keeps {@code a}'s limit (b >= 0); {@code a % b} is below {@code b};
     * {@code min32}/{@code min64} take the smaller of the limits they have. Null when it cannot be evaluated.
     */
    private static final class Expr {
        private static final Pattern CAST = Pattern.compile("\\(\\s*(?:const\\s+)?(?:u?int(?:8|16|32|64)_t|int|long)\\s*\\)");
        private static final Pattern NUMBER = Pattern.compile("0[xX][0-9a-fA-F]+|\\d+");
        private static final Pattern NAME = Pattern.compile("[A-Za-z_]\\w*(?:\\s*\\.\\s*\\w+)*");
        private final String s;
        private final java.util.function.Function<String, Long> constants;
        private final java.util.function.Function<String, Long> variables;
        private int i;

        Expr(String s, java.util.function.Function<String, Long> constants,
             java.util.function.Function<String, Long> variables) {
            this.s = s;
            this.constants = constants;
            this.variables = variables;
        }

        Long parse() {
            try {
                Long v = shift();
                skip();
                return i == s.length() ? v : null;
            } catch (RuntimeException e) {
                return null;
            }
        }

        private boolean bound() {
            return variables != null;
        }

        /** The operand just parsed (from {@code from}) if it is a compile-time constant, else null. */
        private Long exact(int from) {
            return new Expr(s.substring(from, i), constants, null).parse();
        }

        private void skip() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private boolean eat(String op) {
            skip();
            if (s.startsWith(op, i) && !(op.length() == 1 && "<>".contains(op) && s.startsWith(op + op, i))) {
                i += op.length();
                return true;
            }
            return false;
        }

        private Long shift() {
            Long v = sum();
            while (true) {
                boolean left = eat("<<");
                if (!left && !eat(">>")) {
                    return v;
                }
                int from = i;
                Long r = sum();
                Long k = bound() ? exact(from) : r;
                v = v == null || k == null ? null : left ? v << k : v >> k;
            }
        }

        private Long sum() {
            Long v = product();
            while (true) {
                if (eat("+")) {
                    Long r = product();
                    v = v == null || r == null ? null : v + r;
                } else if (eat("-")) {
                    int from = i;
                    Long r = product();
                    Long k = bound() ? exact(from) : r;
                    v = v == null ? null : k != null ? v - k : bound() ? v : null;
                } else {
                    return v;
                }
            }
        }

        private Long product() {
            Long v = unary();
            while (true) {
                if (eat("*")) {
                    Long r = unary();
                    v = v == null || r == null ? null : v * r;
                } else if (eat("/")) {
                    int from = i;
                    Long r = unary();
                    Long k = bound() ? exact(from) : r;
                    v = v == null || k == null || k == 0 ? null : v / k;
                } else if (eat("%")) {
                    Long r = unary();
                    v = r == null || r == 0 ? null : bound() ? (v == null ? r - 1 : Math.min(v, r - 1)) : v == null ? null : v % r;
                } else {
                    return v;
                }
            }
        }

        private Long unary() {
            skip();
            if (eat("-")) {
                Long v = unary();
                return v == null || bound() ? null : -v;
            }
            Matcher cast = CAST.matcher(s).region(i, s.length());
            if (cast.lookingAt()) {
                i = cast.end();
                return unary();
            }
            if (eat("(")) {
                Long v = shift();
                if (!eat(")")) {
                    throw new IllegalStateException("unbalanced");
                }
                return v;
            }
            Matcher num = NUMBER.matcher(s).region(i, s.length());
            if (num.lookingAt()) {
                i = num.end();
                String t = num.group();
                return t.startsWith("0x") || t.startsWith("0X") ? Long.parseLong(t.substring(2), 16) : Long.parseLong(t);
            }
            Matcher id = NAME.matcher(s).region(i, s.length());
            if (!id.lookingAt()) {
                throw new IllegalStateException("no operand at " + i);
            }
            i = id.end();
            String name = id.group().replaceAll("\\s+", "");
            if (eat("(")) {
                List<Long> args = new ArrayList<>();
                if (!eat(")")) {
                    do {
                        args.add(shift());
                    } while (eat(","));
                    if (!eat(")")) {
                        throw new IllegalStateException("unbalanced call");
                    }
                }
                return call(name, args);
            }
            if (name.contains(".")) {
                return null; // a struct member
            }
            Long c = constants.apply(name);
            return c != null || !bound() ? c : variables.apply(name);
        }

        private Long call(String name, List<Long> args) {
            if (args.size() != 2 || !(name.equals("min32") || name.equals("min64") || name.equals("max64"))) {
                return null;
            }
            Long a = args.get(0);
            Long b = args.get(1);
            if (name.equals("max64") || !bound()) {
                return a == null || b == null ? null : name.equals("max64") ? Math.max(a, b) : Math.min(a, b);
            }
            return a == null ? b : b == null ? a : Math.min(a, b);
        }
    }

    private static int matching(String code, int open, char o, char c) {
        int depth = 0;
        for (int i = open; i < code.length(); i++) {
            if (code.charAt(i) == o) {
                depth++;
            } else if (code.charAt(i) == c && --depth == 0) {
                return i;
            }
        }
        return code.length();
    }

    /** Members of struct/class bodies whose declaration has a '*' or '&' (member functions skipped). */
    static List<String> pointerMembers(String code) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("\\b(struct|class)\\s+\\w+\\s*(?::[^{;]*)?\\{").matcher(code);
        while (m.find()) {
            String body = body(code, m.end() - 1);
            StringBuilder decl = new StringBuilder();
            int depth = 0;
            for (int i = 0; i < body.length(); i++) {
                char c = body.charAt(i);
                if (c == '{') {
                    depth++;
                } else if (c == '}') {
                    depth--;
                    if (depth == 0) {
                        decl.setLength(0); // a member function's body ends its declaration
                    }
                } else if (depth == 0) {
                    if (c == ';') {
                        String d = decl.toString().trim();
                        if (!d.contains("(") && (d.contains("*") || d.contains("&"))) {
                            out.add(d.replaceAll("\\s+", " "));
                        }
                        decl.setLength(0);
                    } else {
                        decl.append(c);
                    }
                }
            }
        }
        return out;
    }

    /** The text between the brace at {@code open} and its match, exclusive. */
    private static String body(String code, int open) {
        return code.substring(open + 1, matching(code, open, '{', '}'));
    }

    private static String normalise(String params) {
        return params.replaceAll("\\s+", " ").replaceAll("\\s*([*,])\\s*", "$1").trim();
    }

    static String stripComments(String text) {
        return text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", "");
    }
}
