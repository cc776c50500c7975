import Foundation

/// Compares a report file (Markdown or CSV) with its committed golden copy, line by line: text
/// exactly, numbers within a tolerance, because BLAS threading may perturb the last bits of a
/// float sum.
///
/// A number is a maximal run like `-12.345`, `3`, `1e-06`. Two numbers agree when their texts are
/// equal, or `|a − b| ≤ relative · max(|a|, |b|)`, or — for numbers printed with a fixed number of
/// decimals, where a tiny change can flip the last rounded digit — when they differ by at most one
/// unit in the last printed place. (Report CSVs also carry `ours_exact`, full precision, which
/// only the relative rule can pass, so a real change cannot hide in the rounding.)
public enum GoldenCompare {
    /// One line per difference (empty when the files agree).
    public static func differences(expected: String, actual: String, relativeTolerance: Double = 1e-6, file: String = "report") -> [String] {
        let e = expected.components(separatedBy: "\n"), a = actual.components(separatedBy: "\n")
        var out: [String] = []
        if e.count != a.count { out.append("\(file): \(a.count) lines, golden has \(e.count)") }
        for i in 0..<min(e.count, a.count) where e[i] != a[i] {
            if let why = lineDifference(e[i], a[i], relativeTolerance: relativeTolerance) {
                out.append("\(file):\(i + 1): \(why)\n  golden: \(e[i])\n  actual: \(a[i])")
            }
        }
        return out
    }

    /// nil when the lines agree under the rules above, else the reason.
    static func lineDifference(_ e: String, _ a: String, relativeTolerance: Double) -> String? {
        let te = tokens(e), ta = tokens(a)
        guard te.count == ta.count else { return "different structure" }
        for (x, y) in zip(te, ta) where x.text != y.text {
            guard x.isNumber, y.isNumber, let u = Double(x.text), let v = Double(y.text) else {
                return "text '\(y.text)' where golden has '\(x.text)'"
            }
            if abs(u - v) <= relativeTolerance * max(abs(u), abs(v)) { continue }
            let dx = fixedDecimals(x.text), dy = fixedDecimals(y.text)
            if let dx, dx == dy, abs(u - v) <= pow(10, -Double(dx)) * (1 + 1e-9) { continue }
            return "number \(y.text) where golden has \(x.text) (tolerance \(relativeTolerance) relative)"
        }
        return nil
    }

    struct Token {
        var text: String
        var isNumber: Bool
    }

    /// Splits a line into numbers and the text between them.
    static func tokens(_ s: String) -> [Token] {
        var out: [Token] = []
        let c = Array(s)
        var i = 0, text = ""
        func isDigit(_ ch: Character) -> Bool { ch.isASCII && ch.isNumber }
        while i < c.count {
            let startsNumber = isDigit(c[i]) || ((c[i] == "-" || c[i] == "+") && i + 1 < c.count && isDigit(c[i + 1])
                && (i == 0 || !(c[i - 1].isLetter || isDigit(c[i - 1]))))
            guard startsNumber else {
                text.append(c[i])
                i += 1
                continue
            }
            if !text.isEmpty { out.append(Token(text: text, isNumber: false)); text = "" }
            var j = i + 1
            while j < c.count, isDigit(c[j]) { j += 1 }
            if j + 1 < c.count, c[j] == ".", isDigit(c[j + 1]) {
                j += 1
                while j < c.count, isDigit(c[j]) { j += 1 }
            }
            if j < c.count, c[j] == "e" || c[j] == "E" {
                var k = j + 1
                if k < c.count, c[k] == "-" || c[k] == "+" { k += 1 }
                if k < c.count, isDigit(c[k]) {
                    while k < c.count, isDigit(c[k]) { k += 1 }
                    j = k
                }
            }
            out.append(Token(text: String(c[i..<j]), isNumber: true))
            i = j
        }
        if !text.isEmpty { out.append(Token(text: text, isNumber: false)) }
        return out
    }

    /// Decimals of a fixed-point number ("12.30" → 2); nil for exponent forms.
    static func fixedDecimals(_ s: String) -> Int? {
        if s.contains("e") || s.contains("E") { return nil }
        return Format.decimals(of: s)
    }
}
