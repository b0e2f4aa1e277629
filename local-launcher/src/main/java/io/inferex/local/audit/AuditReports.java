package io.inferex.local.audit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;

/** The audit report as JSON ({@code audit-report.json}) and as one self-contained HTML page ({@code audit-report.html}). */
public final class AuditReports {
    public static final String JSON_FILE = "audit-report.json";
    public static final String HTML_FILE = "audit-report.html";

    private AuditReports() {}

    public static void write(LedgerAudit.Report report, Path dir) throws IOException {
        Files.createDirectories(dir);
        EventExport.JSON.writeValue(dir.resolve(JSON_FILE).toFile(), report);
        Files.writeString(dir.resolve(HTML_FILE), html(report), StandardCharsets.UTF_8);
    }

    static String html(LedgerAudit.Report r) {
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Inferex audit</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}")
                .append("td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}.ok{color:#060}.bad{color:#a00}")
                .append("pre{white-space:pre-wrap;background:#f6f6f6;padding:.4em;font-size:.85em}</style></head><body>");
        b.append("<h1>Inferex audit: <span class=\"").append(r.clean() ? "ok\">clean" : "bad\">" + r.discrepancies().size()
                + " discrepancies").append("</span></h1>");
        b.append("<p>Source ").append(esc(r.source())).append(", ").append(Instant.ofEpochMilli(r.generatedAtMs())).append("</p>");
        table(b, "Totals", r.totals());
        table(b, "Settlement settings replayed", r.settings());
        if (!r.notes().isEmpty()) {
            b.append("<h2>Notes</h2><ul>");
            r.notes().forEach(n -> b.append("<li>").append(esc(n)).append("</li>"));
            b.append("</ul>");
        }
        Map<String, Long> byKind = new TreeMap<>();
        r.discrepancies().forEach(d -> byKind.merge(d.kind(), 1L, Long::sum));
        if (!byKind.isEmpty()) {
            table(b, "Discrepancies by kind", byKind);
            b.append("<h2>Discrepancies</h2>");
            int i = 1;
            for (LedgerAudit.Discrepancy d : r.discrepancies()) {
                b.append("<h3>").append(i++).append(". ").append(esc(d.kind())).append(": ").append(esc(d.subject())).append("</h3><p>")
                        .append(esc(d.detail())).append("</p>");
                if (!d.events().isEmpty()) {
                    b.append("<p>Events behind it:</p>");
                    d.events().forEach(e -> b.append("<pre>").append(esc(e)).append("</pre>"));
                }
            }
        }
        return b.append("</body></html>\n").toString();
    }

    private static void table(StringBuilder b, String title, Map<String, ?> rows) {
        b.append("<h2>").append(esc(title)).append("</h2><table>");
        rows.forEach((k, v) -> b.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(String.valueOf(v))).append("</td></tr>"));
        b.append("</table>");
    }

    static String esc(String s) {
        return s == null ? "" : s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
