import Foundation

/// A scatter plot of FID (or any lower-is-better metric) against parameter count, log-scaled
/// on x, as a self-contained SVG: published points as circles, ours as diamonds joined to the
/// published point of the same row.
public enum SVGPlot {
    public struct Point: Equatable, Sendable {
        public var label: String
        public var parameters: Double
        public var value: Double
        public var ours: Bool
        /// Row id, to join ours with the published point of the same row.
        public var rowID: String
    }

    /// The points a report offers for `metric`: every published row with a parameter count, and
    /// every computed value whose baseline row has one.
    public static func points(_ report: Report, metric: MetricKind = .fid) -> [Point] {
        guard let baseline = report.baseline else { return [] }
        var pts: [Point] = []
        for l in report.lines where l.metric == metric {
            guard let row = baseline.row(l.rowID), let params = row.parameterCount else { continue }
            if let p = l.published {
                pts.append(Point(label: row.displayName, parameters: params, value: p.value, ours: false, rowID: l.rowID))
            }
            if let o = l.ours, o.isFinite {
                pts.append(Point(label: row.displayName, parameters: params, value: o, ours: true, rowID: l.rowID))
            }
        }
        return pts
    }

    /// Renders the plot, or nil when there are fewer than two points.
    public static func render(_ points: [Point], title: String, yLabel: String = "FID") -> String? {
        guard points.count >= 2 else { return nil }
        let width = 720.0, height = 440.0
        let left = 64.0, right = 24.0, top = 40.0, bottom = 56.0
        let plotW = width - left - right, plotH = height - top - bottom

        let lx = points.map { log10($0.parameters) }
        var xMin = floor(lx.min()!), xMax = ceil(lx.max()!)
        if xMax - xMin < 1 { xMin -= 0.5; xMax += 0.5 }
        let yMaxRaw = points.map(\.value).max()!
        let yStep = niceStep(yMaxRaw / 5)
        let yMax = max(yStep, (yMaxRaw / yStep).rounded(.up) * yStep)

        func sx(_ p: Double) -> Double { left + (log10(p) - xMin) / (xMax - xMin) * plotW }
        func sy(_ v: Double) -> Double { top + plotH - v / yMax * plotH }
        func n(_ v: Double) -> String { Format.fixed(v, 1) }

        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="11">

            """
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(n(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(xml(title))</text>\n"
        // Axes and grid.
        var tick = yStep * 0
        while tick <= yMax + yStep / 2 {
            let y = sy(tick)
            s += "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(n(left - 6))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(Format.shortest(tick))</text>\n"
            tick += yStep
        }
        var e = xMin
        while e <= xMax {
            let x = left + (e - xMin) / (xMax - xMin) * plotW
            s += "<line x1=\"\(n(x))\" y1=\"\(n(top))\" x2=\"\(n(x))\" y2=\"\(n(top + plotH))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(n(x))\" y=\"\(n(top + plotH + 16))\" text-anchor=\"middle\">\(paramLabel(pow(10, e)))</text>\n"
            e += 1
        }
        s += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotW))\" height=\"\(n(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(n(left + plotW / 2))\" y=\"\(n(height - 12))\" text-anchor=\"middle\">parameters (log scale)</text>\n"
        s += "<text x=\"16\" y=\"\(n(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(n(top + plotH / 2)))\">\(xml(yLabel)) (lower is better)</text>\n"

        // Ours joined to the published point of the same row.
        for o in points where o.ours {
            if let p = points.first(where: { !$0.ours && $0.rowID == o.rowID }) {
                s += "<line x1=\"\(n(sx(p.parameters)))\" y1=\"\(n(sy(p.value)))\" x2=\"\(n(sx(o.parameters)))\" y2=\"\(n(sy(o.value)))\" stroke=\"#d62728\" stroke-dasharray=\"3,2\"/>\n"
            }
        }
        for p in points where !p.ours {
            let x = sx(p.parameters), y = sy(p.value)
            s += "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"4\" fill=\"#1f77b4\"><title>\(xml(p.label)): \(Format.shortest(p.value))</title></circle>\n"
            s += "<text x=\"\(n(x + 6))\" y=\"\(n(y - 5))\" fill=\"#555\" font-size=\"9\">\(xml(p.label))</text>\n"
        }
        for p in points where p.ours {
            let x = sx(p.parameters), y = sy(p.value)
            s += "<path d=\"M\(n(x)) \(n(y - 6)) L\(n(x + 6)) \(n(y)) L\(n(x)) \(n(y + 6)) L\(n(x - 6)) \(n(y)) Z\" fill=\"#d62728\"><title>ours, \(xml(p.label)): \(Format.shortest(p.value))</title></path>\n"
        }
        // Legend.
        let lxp = left + plotW - 150, lyp = top + 14
        s += "<rect x=\"\(n(lxp - 8))\" y=\"\(n(lyp - 12))\" width=\"150\" height=\"40\" fill=\"white\" stroke=\"#ccc\"/>\n"
        s += "<circle cx=\"\(n(lxp))\" cy=\"\(n(lyp - 2))\" r=\"4\" fill=\"#1f77b4\"/><text x=\"\(n(lxp + 10))\" y=\"\(n(lyp + 2))\">published</text>\n"
        s += "<path d=\"M\(n(lxp)) \(n(lyp + 10)) L\(n(lxp + 5)) \(n(lyp + 15)) L\(n(lxp)) \(n(lyp + 20)) L\(n(lxp - 5)) \(n(lyp + 15)) Z\" fill=\"#d62728\"/><text x=\"\(n(lxp + 10))\" y=\"\(n(lyp + 19))\">digit-bench</text>\n"
        s += "</svg>\n"
        return s
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let mag = pow(10, floor(log10(raw)))
        for m in [1.0, 2.0, 5.0, 10.0] where raw <= m * mag { return m * mag }
        return 10 * mag
    }

    static func paramLabel(_ v: Double) -> String {
        if v >= 1e9 { return Format.shortest(v / 1e9) + "B" }
        if v >= 1e6 { return Format.shortest(v / 1e6) + "M" }
        if v >= 1e3 { return Format.shortest(v / 1e3) + "K" }
        return Format.shortest(v)
    }

    static func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
