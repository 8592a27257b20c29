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

    /** Loops with a run-time bound and no LOOP_TRIPCOUNT pragma (min, max) at the top of their body (rule 8). */
    static List<String> loopsWithoutTripcount(String file, String code) {
        List<String> out = new ArrayList<>();
        Matcher m = LOOP.matcher(code);
        while (m.find()) {
            int close = matching(code, m.end() - 1, '(', ')');
            String header = code.substring(m.end(), close);
            int line = 1 + (int) code.substring(0, m.start()).chars().filter(c -> c == '\n').count();
            String where = file + ":" + line + ": loop '" + m.group(1) + " (" + header.replaceAll("\\s+", " ").trim() + ")'";
            if (m.group(1).equals("for")) {
                String[] parts = header.split(";", -1);
                if (parts.length != 3) {
                    out.add(where + " is unreadable (rule 8)");
                    continue;
                }
                if (FIXED_BOUND.matcher(parts[1]).matches()) {
                    continue;
                }
            }
            int open = close + 1;
            while (open < code.length() && Character.isWhitespace(code.charAt(open))) {
                open++;
            }
            if (open >= code.length() || code.charAt(open) != '{') {
                out.add(where + " has a run-time bound and no braced body for a LOOP_TRIPCOUNT pragma (rule 8)");
                continue;
            }
            String body = body(code, open);
            Matcher nested = LOOP.matcher(body);
            String top = nested.find() ? body.substring(0, nested.start()) : body;
            Matcher tc = TRIPCOUNT.matcher(top);
            if (!tc.find()) {
                out.add(where + " has a run-time bound and no LOOP_TRIPCOUNT min= max= pragma (rule 8)");
            } else if (Long.parseLong(tc.group(2)) < 1 || Long.parseLong(tc.group(1)) > Long.parseLong(tc.group(2))) {
                out.add(where + ": LOOP_TRIPCOUNT min=" + tc.group(1) + " max=" + tc.group(2) + " is no range (rule 8)");
            }
        }
        return out;
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
