import Barcodes
import Testing

@Suite("QR codes: libqrencode → raster → zbar")
struct QRRoundTripTests {
    static let sizes = [1, 2, 17, 18, 100, 500, 1000]

    @Test("a payload comes back byte for byte", arguments: PayloadKind.allCases, sizes)
    func roundTrip(kind: PayloadKind, byteCount: Int) throws {
        let payload = kind.payload(byteCount: byteCount)
        #expect(payload.count == byteCount)
        let qr = try kind.encode(payload)
        #expect((1...40).contains(qr.version))
        #expect(qr.size == 17 + 4 * qr.version)
        #expect(qr.errorCorrection == .medium)

        let codes = CodeScanner().scan(Render.raster(qr))
        #expect(codes == [ScannedCode(symbology: .qrCode, data: payload)])
    }

    @Test("the version grows with the payload and stays within 1…40", arguments: PayloadKind.allCases)
    func versionGrows(kind: PayloadKind) throws {
        let versions = try Self.sizes.map { try kind.encode(kind.payload(byteCount: $0)).version }
        #expect(versions == versions.sorted(), "versions \(versions)")
        #expect(versions.first! < versions.last!)
        #expect(versions.allSatisfy { (1...40).contains($0) })
    }

    @Test("digits get a smaller symbol than bytes, because libqrencode picks numeric mode")
    func numericModeIsUsed() throws {
        let digits = String(repeating: "1234567890", count: 30)
        let asText = try QREncoder.encode(digits)
        let asBytes = try QREncoder.encode(bytes: Array(digits.utf8))
        #expect(asText.version < asBytes.version)
    }

    @Test("each error-correction level decodes, and higher levels never shrink the symbol")
    func errorCorrectionLevels() throws {
        let payload = PayloadKind.ascii.payload(byteCount: 200)
        let scanner = CodeScanner(symbologies: [.qrCode])
        var lastVersion = 0
        for level in ErrorCorrection.allCases {
            let qr = try QREncoder.encode(bytes: payload, errorCorrection: level)
            #expect(qr.errorCorrection == level)
            #expect(qr.version >= lastVersion)
            lastVersion = qr.version
            #expect(scanner.scan(Render.raster(qr)).map(\.data) == [payload])
        }
    }

    @Test("text containing NUL is encoded as bytes and survives")
    func textWithNUL() throws {
        let text = "before\0after"
        let qr = try QREncoder.encode(text)
        #expect(CodeScanner().scan(Render.raster(qr)).first?.text == text)
    }

    @Test("an empty payload is an error")
    func empty() {
        #expect(throws: BarcodeError.self) { try QREncoder.encode("") }
        do {
            _ = try QREncoder.encode(bytes: [])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .emptyPayload)
        }
    }

    @Test("a payload beyond version 40 is 'too large for a QR code'", arguments: ErrorCorrection.allCases)
    func tooLarge(level: ErrorCorrection) {
        do {
            _ = try QREncoder.encode(bytes: randomBytes(3000, seed: 1), errorCorrection: level)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .payloadTooLarge)
            #expect(error.message.contains("too large for a QR code"))
        }
        do {
            _ = try QREncoder.encode(String(repeating: "x", count: 3000), errorCorrection: level)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .payloadTooLarge)
            #expect(error.description == error.message)
        }
    }

    @Test("the largest binary payload at level L (2953 bytes) fits in version 40")
    func largest() throws {
        let qr = try QREncoder.encode(bytes: randomBytes(2953, seed: 2), errorCorrection: .low)
        #expect(qr.version == 40)
        #expect(qr.size == 177)
    }
}
