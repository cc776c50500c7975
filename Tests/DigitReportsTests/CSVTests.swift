import DigitReports
import Foundation
import Testing

@Suite struct CSVTests {
    @Test func quotedFieldsFollowRFC4180() throws {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nplain,,end\n"
        let r = try CSV.parse(text)
        #expect(r.map(\.fields) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["plain", "", "end"]])
        #expect(r.map(\.line) == [1, 2, 4])
    }

    @Test func byteOrderMarkAndMissingFinalNewline() throws {
        let r = try CSV.parse("\u{FEFF}id,v\nx,1")
        #expect(r.map(\.fields) == [["id", "v"], ["x", "1"]])
    }

    @Test func emptyQuotedFieldAndTrailingEmptyField() throws {
        let r = try CSV.parse("\"\",a,\n")
        #expect(r.map(\.fields) == [["", "a", ""]])
    }

    @Test func unterminatedQuoteIsAnError() {
        #expect(throws: ReportError.csvUnterminatedQuote(file: "t.csv", line: 2)) {
            try CSV.parse("a,b\n\"open,b\n", file: "t.csv")
        }
    }

    @Test func strayQuotesAreErrors() {
        #expect(throws: ReportError.csvStrayQuote(file: "t.csv", line: 1, field: 2)) {
            try CSV.parse("a,b\"c\n", file: "t.csv")
        }
        #expect(throws: ReportError.csvStrayQuote(file: "t.csv", line: 1, field: 1)) {
            try CSV.parse("\"a\"b,c\n", file: "t.csv")
        }
    }

    @Test func formatRoundTrips() throws {
        let rows = [["id", "note"], ["x", "has, comma"], ["y", "has \"quote\""], ["z", " padded "], ["w", "multi\nline"]]
        #expect(try CSV.parse(CSV.format(rows)).map(\.fields) == rows)
        #expect(CSV.escape("plain") == "plain")
        #expect(CSV.escape("a,b") == "\"a,b\"")
    }
}

@Suite struct FormatTests {
    @Test func fixedAndSigned() {
        #expect(Format.fixed(3.14159, 2) == "3.14")
        #expect(Format.fixed(-0.001, 2) == "0.00")
        #expect(Format.signed(0.126, 2) == "+0.13")
        #expect(Format.signed(-1.3, 2) == "-1.30")
        #expect(Format.signed(0.0001, 2) == "0.00")
    }

    @Test func publishedDecimalsAndParameterCounts() {
        #expect(Format.decimals(of: "9.10") == 2)
        #expect(Format.decimals(of: "45") == 0)
        #expect(Format.parameterCount("219M") == 219e6)
        #expect(Format.parameterCount("0.6B") == 0.6e9)
        #expect(Format.parameterCount("13.5B") == 13.5e9)
        #expect(Format.parameterCount("x") == nil)
    }

    @Test func tolerances() {
        #expect(Tolerance(parsing: "0.05") == .absolute(0.05))
        #expect(Tolerance(parsing: "2%") == .relative(0.02))
        #expect(Tolerance(parsing: "-1") == nil)
        #expect(Tolerance(parsing: "abc") == nil)
        #expect(Tolerance.absolute(0.05).allows(3.44, reference: 3.39))
        #expect(!Tolerance.absolute(0.05).allows(3.45, reference: 3.39))
        #expect(Tolerance.relative(0.02).allows(102, reference: 100))
        #expect(!Tolerance.relative(0.02).allows(102.1, reference: 100))
        #expect(Tolerance.relative(0.02).description == "2%")
    }
}
