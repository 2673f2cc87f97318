import Codec
import TinyKVProto
import XCTest
@testable import CoprocessorEngine

/// Each pushed-down function against expected values, with MySQL's NULL semantics.
final class ExpressionTests: XCTestCase {
    /// Row: 0 = 7 (int), 1 = NULL, 2 = 2.5 (double), 3 = "abc", 4 = 18446744073709551615 (unsigned), 5 = 1.50 (decimal).
    let row: [Datum] = [.int(7), .null, .float(2.5), .string("abc"), .uint(.max), .decimal(SQLDecimal("1.50")!)]
    let a = PB.column(0, PB.longlong), n = PB.column(1, PB.longlong), r = PB.column(2, PB.double)
    let s = PB.column(3, PB.varchar), u = PB.column(4, PB.longlong, unsigned: true), d = PB.column(5, PB.newDecimal)

    func eval(_ e: Tipb.Expr) throws -> Datum { try Expression.compile(e, columnCount: row.count).eval(row) }

    func check(_ e: Tipb.Expr, _ expected: Datum, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try eval(e), expected, message, file: file, line: line)
    }

    let t = Datum.int(1), f = Datum.int(0)

    func testComparisons() {
        check(PB.fn(.ltInt, [a, PB.int(8)]), t)
        check(PB.fn(.leInt, [a, PB.int(7)]), t)
        check(PB.fn(.gtInt, [a, PB.int(7)]), f)
        check(PB.fn(.geInt, [a, PB.int(-1)]), t)
        check(PB.fn(.eqInt, [a, PB.int(7)]), t)
        check(PB.fn(.neInt, [a, PB.int(7)]), f)
        check(PB.fn(.ltInt, [a, n]), .null)
        check(PB.fn(.eqInt, [n, n]), .null)
        check(PB.fn(.nullEQInt, [n, n]), t)
        check(PB.fn(.nullEQInt, [a, n]), f)
        check(PB.fn(.gtInt, [u, PB.int(-1)]), t, "unsigned max is greater than -1")
        check(PB.fn(.ltReal, [r, PB.real(3)]), t)
        check(PB.fn(.eqReal, [a, PB.real(7)]), t)
        check(PB.fn(.ltString, [s, PB.string("abd")]), t)
        check(PB.fn(.eqString, [s, PB.string("ABC")]), f, "binary collation")
        check(PB.fn(.geDecimal, [d, PB.decimal("1.5")]), t)
        check(PB.fn(.ltDecimal, [d, PB.decimal("1.49")]), f)
    }

    func testIn() {
        check(PB.fn(.inInt, [a, PB.int(1), PB.int(7)]), t)
        check(PB.fn(.inInt, [a, PB.int(1), PB.int(2)]), f)
        check(PB.fn(.inInt, [a, PB.int(1), PB.null]), .null)
        check(PB.fn(.inInt, [a, PB.null, PB.int(7)]), t)
        check(PB.fn(.inInt, [n, PB.int(1)]), .null)
        check(PB.fn(.inString, [s, PB.string("x"), PB.string("abc")]), t)
        check(PB.fn(.inReal, [r, PB.real(2.5)]), t)
    }

    func testLogic() {
        let tr = PB.int(1), fa = PB.int(0), nu = PB.null
        check(PB.fn(.logicalAnd, [tr, tr]), t)
        check(PB.fn(.logicalAnd, [tr, nu]), .null)
        check(PB.fn(.logicalAnd, [fa, nu]), f)
        check(PB.fn(.logicalAnd, [nu, fa]), f)
        check(PB.fn(.logicalOr, [fa, nu]), .null)
        check(PB.fn(.logicalOr, [nu, tr]), t)
        check(PB.fn(.logicalOr, [fa, fa]), f)
        check(PB.fn(.logicalXor, [tr, fa]), t)
        check(PB.fn(.logicalXor, [tr, nu]), .null)
        check(PB.fn(.unaryNotInt, [tr]), f)
        check(PB.fn(.unaryNotInt, [nu]), .null)
        check(PB.fn(.unaryNotReal, [PB.real(0.5)]), f)
        check(PB.fn(.intIsNull, [n]), t)
        check(PB.fn(.stringIsNull, [s]), f)
        check(PB.fn(.intIsTrue, [n]), f)
        check(PB.fn(.intIsFalse, [PB.int(0)]), t)
        check(PB.fn(.bitAndSig, [PB.int(6), PB.int(3)], unsigned: true), .uint(2))
        check(PB.fn(.bitOrSig, [PB.int(6), PB.int(3)], unsigned: true), .uint(7))
        check(PB.fn(.bitNegSig, [PB.int(0)], unsigned: true), .uint(.max))
        check(PB.fn(.leftShift, [PB.int(1), PB.int(4)], unsigned: true), .uint(16))
        check(PB.fn(.rightShift, [PB.int(16), PB.int(70)], unsigned: true), .uint(0))
    }

    func testArithmetic() {
        check(PB.fn(.plusInt, [a, PB.int(3)]), .int(10))
        check(PB.fn(.minusInt, [a, PB.int(10)]), .int(-3))
        check(PB.fn(.multiplyInt, [a, PB.int(-2)]), .int(-14))
        check(PB.fn(.plusInt, [a, n]), .null)
        check(PB.fn(.intDivideInt, [a, PB.int(2)]), .int(3))
        check(PB.fn(.intDivideInt, [a, PB.int(0)]), .null)
        check(PB.fn(.modInt, [PB.int(-7), PB.int(3)]), .int(-1))
        check(PB.fn(.plusReal, [r, PB.real(1)], PB.double), .float(3.5))
        check(PB.fn(.divideReal, [r, PB.real(0)], PB.double), .null)
        check(PB.fn(.divideReal, [PB.real(1), PB.real(4)], PB.double), .float(0.25))
        check(PB.fn(.plusDecimal, [d, PB.decimal("0.25")], PB.newDecimal), .decimal(SQLDecimal("1.75")!))
        check(PB.fn(.divideDecimal, [PB.decimal("1"), PB.decimal("3")], PB.newDecimal), .decimal(SQLDecimal("0.3333")!))
        check(PB.fn(.divideDecimal, [d, PB.decimal("0")], PB.newDecimal), .null)
        check(PB.fn(.multiplyDecimal, [d, PB.decimal("2")], PB.newDecimal), .decimal(SQLDecimal("3")!))
        check(PB.fn(.unaryMinusInt, [a]), .int(-7))
        check(PB.fn(.unaryMinusReal, [r], PB.double), .float(-2.5))
        check(PB.fn(.plusIntUnsignedUnsigned, [PB.uint(1), PB.uint(2)], unsigned: true), .uint(3))
    }

    func testOverflowIsAnError() {
        for e in [PB.fn(.plusInt, [PB.int(.max), PB.int(1)]), PB.fn(.multiplyInt, [PB.int(.min), PB.int(-1)]),
                  PB.fn(.unaryMinusInt, [PB.int(.min)]), PB.fn(.plusIntUnsignedUnsigned, [u, PB.uint(1)], unsigned: true),
                  PB.fn(.minusInt, [PB.uint(0), PB.uint(1)], unsigned: true)] {
            XCTAssertThrowsError(try eval(e)) { error in
                guard case CoprocessorError.evaluation(1690, _) = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testControlFlow() {
        check(PB.fn(.ifInt, [PB.int(1), PB.int(10), PB.int(20)]), .int(10))
        check(PB.fn(.ifInt, [n, PB.int(10), PB.int(20)]), .int(20))
        check(PB.fn(.ifString, [PB.int(0), s, PB.string("x")], PB.varchar), .string("x"))
        check(PB.fn(.ifNullInt, [n, PB.int(5)]), .int(5))
        check(PB.fn(.ifNullInt, [a, PB.int(5)]), .int(7))
        check(PB.fn(.coalesceInt, [n, n, a]), .int(7))
        check(PB.fn(.coalesceInt, [n, n]), .null)
        check(PB.fn(.caseWhenInt, [PB.int(0), PB.int(1), PB.int(1), PB.int(2), PB.int(3)]), .int(2))
        check(PB.fn(.caseWhenInt, [PB.int(0), PB.int(1), PB.int(3)]), .int(3))
        check(PB.fn(.caseWhenInt, [PB.int(0), PB.int(1)]), .null)
    }

    func testStrings() {
        check(PB.fn(.length, [s]), .int(3))
        check(PB.fn(.length, [PB.string("héllo")]), .int(6), "bytes, not characters")
        check(PB.fn(.charLengthUTF8, [PB.string("héllo")]), .int(5))
        check(PB.fn(.length, [n]), .null)
        check(PB.fn(.bitLength, [s]), .int(24))
        check(PB.fn(.concat, [s, PB.string("-"), PB.int(7)], PB.varchar), .string("abc-7"))
        check(PB.fn(.concat, [s, n], PB.varchar), .null)
        check(PB.fn(.concatWS, [PB.string(","), s, n, PB.string("z")], PB.varchar), .string("abc,z"))
        check(PB.fn(.ascii, [s]), .int(97))
        check(PB.fn(.ascii, [PB.string("")]), .int(0))
        check(PB.fn(.reverse, [s], PB.varchar), .string("cba"))
        check(PB.fn(.reverseUTF8, [PB.string("hé")], PB.varchar), .string("éh"))
        check(PB.fn(.lTrim, [PB.string("  x ")], PB.varchar), .string("x "))
        check(PB.fn(.rTrim, [PB.string("  x ")], PB.varchar), .string("  x"))
        check(PB.fn(.left, [s, PB.int(2)], PB.varchar), .string("ab"))
        check(PB.fn(.leftUTF8, [PB.string("héllo"), PB.int(2)], PB.varchar), .string("hé"))
        check(PB.fn(.left, [s, PB.int(-1)], PB.varchar), .string(""))
        check(PB.fn(.right, [s, PB.int(5)], PB.varchar), .string("abc"))
        check(PB.fn(.substring3ArgsUTF8, [s, PB.int(2), PB.int(1)], PB.varchar), .string("b"))
        check(PB.fn(.substring2ArgsUTF8, [s, PB.int(-2)], PB.varchar), .string("bc"))
        check(PB.fn(.locate2ArgsUTF8, [PB.string("c"), s]), .int(3))
        check(PB.fn(.locate3ArgsUTF8, [PB.string("a"), s, PB.int(2)]), .int(0))
        check(PB.fn(.upper, [s], PB.varchar), .string("ABC"))
        check(PB.fn(.strcmp, [s, PB.string("abd")]), .int(-1))
    }

    func testLike() {
        let esc = PB.int(92)
        check(PB.fn(.likeSig, [s, PB.string("a%"), esc]), t)
        check(PB.fn(.likeSig, [s, PB.string("%c"), esc]), t)
        check(PB.fn(.likeSig, [s, PB.string("a_c"), esc]), t)
        check(PB.fn(.likeSig, [s, PB.string("a_"), esc]), f)
        check(PB.fn(.likeSig, [s, PB.string("%"), esc]), t)
        check(PB.fn(.likeSig, [s, PB.string("A%"), esc]), f)
        check(PB.fn(.likeSig, [PB.string("a%c"), PB.string("a\\%c"), esc]), t)
        check(PB.fn(.likeSig, [s, PB.string("a\\%c"), esc]), f)
        check(PB.fn(.likeSig, [PB.string("aXbXc"), PB.string("%b%c"), esc]), t)
        check(PB.fn(.likeSig, [n, PB.string("%"), esc]), .null)
    }

    func testMath() {
        check(PB.fn(.absInt, [PB.int(-3)]), .int(3))
        check(PB.fn(.absReal, [PB.real(-2.5)], PB.double), .float(2.5))
        check(PB.fn(.absDecimal, [PB.decimal("-1.5")], PB.newDecimal), .decimal(SQLDecimal("1.5")!))
        check(PB.fn(.ceilReal, [r], PB.double), .float(3))
        check(PB.fn(.floorReal, [PB.real(-2.5)], PB.double), .float(-3))
        check(PB.fn(.ceilDecToInt, [d]), .int(2))
        check(PB.fn(.floorDecToDec, [PB.decimal("-1.5")], PB.newDecimal), .decimal(SQLDecimal("-2")!))
        check(PB.fn(.roundReal, [r], PB.double), .float(3))
        check(PB.fn(.roundDec, [PB.decimal("-2.5")], PB.newDecimal), .decimal(SQLDecimal("-3")!))
        check(PB.fn(.sqrt, [PB.real(9)], PB.double), .float(3))
        check(PB.fn(.sqrt, [PB.real(-1)], PB.double), .null)
        check(PB.fn(.sign, [PB.int(-9)]), .int(-1))
        check(PB.fn(.log10, [PB.real(100)], PB.double), .float(2))
        check(PB.fn(.log1Arg, [PB.real(0)], PB.double), .null)
        check(PB.fn(.log2Args, [PB.real(2), PB.real(8)], PB.double), .float(3))
        check(PB.fn(.crc32, [PB.string("MySQL")]), .int(3_259_397_556))
        check(PB.fn(.degrees, [PB.real(.pi)], PB.double), .float(180))
    }

    func testResultKindFollowsResultType() {
        // An int argument in a DOUBLE-typed IF is returned as a double: TinySQL decodes by type.
        check(PB.fn(.ifReal, [PB.int(1), PB.int(3), PB.real(1)], PB.double), .float(3))
        check(PB.fn(.ifNullDecimal, [n, PB.int(2)], PB.newDecimal), .decimal(SQLDecimal("2")!))
    }

    func testUnsupportedIsRejectedAtCompileTime() {
        XCTAssertThrowsError(try Expression.compile(PB.fn(.jsonExtractSig, [s]), columnCount: row.count)) { error in
            guard case CoprocessorError.unsupported(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("JsonExtractSig"), m)
        }
        XCTAssertThrowsError(try Expression.compile(PB.column(9, PB.longlong), columnCount: row.count))
        XCTAssertThrowsError(try Expression.compile(PB.fn(.plusInt, [a]), columnCount: row.count))
        XCTAssertThrowsError(try Expression.compile(Tipb.Expr(tp: .mysqlJson, val: []), columnCount: row.count))
    }
}
