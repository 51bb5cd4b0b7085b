import Barcodes
import Testing

@Suite("Code 128: zint → raster → zbar")
struct Code128Tests {
    static let startC: [Bool] = "11010011100".map { $0 == "1" }
    static let stop: [Bool] = "1100011101011".map { $0 == "1" }

    @Test("an 18-digit payment code uses code set C and decodes",
          arguments: ["281234567890123456", "100000000000000000", "999999999999999999", "130000000000000001"])
    func paymentCode(code: String) throws {
        let modules = try Code128.encode(code)
        // Start C, 9 digit pairs, check character: 11 modules each; then the 13-module stop.
        #expect(modules.count == 11 * 11 + 13)
        #expect(Array(modules.prefix(11)) == Self.startC)
        #expect(Array(modules.suffix(13)) == Self.stop)
        let codes = CodeScanner().scan(Render.raster(code128: modules))
        #expect(codes == [ScannedCode(symbology: .code128, data: Array(code.utf8))])
    }

    @Test("odd-length digits and text decode exactly",
          arguments: ["1", "123", "12345678901234567", "Hello, World!", "qrpos-42", "Order #42: 3 x Cafe!", "a", "lower/UPPER 0123"])
    func text(text: String) throws {
        let modules = try Code128.encode(text)
        #expect(Array(modules.suffix(13)) == Self.stop)
        #expect(modules.first == true)
        let codes = CodeScanner(symbologies: [.code128]).scan(Render.raster(code128: modules))
        #expect(codes.map(\.symbology) == [.code128])
        #expect(codes.first?.text == text)
    }

    @Test("empty, non-ASCII and over-long payloads are errors")
    func errors() {
        func code(_ text: String) -> BarcodeError.Code? {
            do { _ = try Code128.encode(text); return nil } catch { return error.code }
        }
        #expect(code("") == .emptyPayload)
        #expect(code("Café") == .unencodableText)
        #expect(code(String(repeating: "7", count: Code128.characterCountMax + 1)) == .payloadTooLarge)
        #expect(code(String(repeating: "7", count: Code128.characterCountMax)) == nil)
    }
}
