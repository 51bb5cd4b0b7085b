import CZint

/// Makes Code 128 barcodes with zint.
public enum Code128 {
    /// The longest payload accepted, in characters; zint's own limit for Code 128 is 160, and a
    /// longer barcode does not fit on a receipt or a screen anyway.
    public static let characterCountMax = 80

    /// Encodes ASCII text as a row of modules, wrapping `ZBarcode_Create`, `ZBarcode_Encode` with
    /// `BARCODE_CODE128` and `ZBarcode_Delete`.
    ///
    /// The result is the symbol only — start character, data, check character and stop pattern —
    /// with **no quiet zone**; the renderers add it. `true` is a bar. zint picks the code sets and
    /// switches between them to make the shortest symbol, so a run of digits uses code set C
    /// (two digits a character): an 18-digit payment code is 134 modules wide.
    ///
    /// Only ASCII (0…127) is accepted: Code 128 carries other bytes as ISO 8859-1 through FNC4,
    /// which scanners disagree about.
    public static func encode(_ text: String) throws(BarcodeError) -> [Bool] {
        let bytes = Array(text.utf8)
        if bytes.isEmpty {
            throw BarcodeError(.emptyPayload, "nothing to encode: the Code 128 payload is empty")
        }
        if let bad = bytes.firstIndex(where: { $0 >= 0x80 }) {
            throw BarcodeError(.unencodableText, "Code 128 takes ASCII only; byte \(bad) of the payload is 0x\(String(bytes[bad], radix: 16))")
        }
        if bytes.count > characterCountMax {
            throw BarcodeError(.payloadTooLarge, "\(bytes.count) characters are too many for a Code 128 barcode (at most \(characterCountMax))")
        }
        let symbol = ZintSymbol()
        return try symbol.encodeCode128(bytes)
    }
}

/// Owns one `zint_symbol` from `ZBarcode_Create`, released by `ZBarcode_Delete`.
private struct ZintSymbol: ~Copyable {
    let raw: UnsafeMutablePointer<zint_symbol>

    init() {
        // ZBarcode_Create returns NULL only when malloc fails, which Swift treats as fatal too.
        guard let raw = ZBarcode_Create() else { fatalError("ZBarcode_Create: out of memory") }
        self.raw = raw
    }

    deinit { ZBarcode_Delete(raw) }

    func encodeCode128(_ bytes: [UInt8]) throws(BarcodeError) -> [Bool] {
        raw.pointee.symbology = BARCODE_CODE128
        raw.pointee.input_mode = DATA_MODE
        let status = bytes.withUnsafeBufferPointer { ZBarcode_Encode(raw, $0.baseAddress, Int32($0.count)) }
        // Values below ZINT_ERROR are warnings; the symbol is still made.
        guard status < ZINT_ERROR else {
            let reason = withUnsafeBytes(of: &raw.pointee.errtxt) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw BarcodeError(.encoderFailed, "zint could not encode Code 128: \(reason) (status \(status))")
        }
        precondition(raw.pointee.rows == 1, "Code 128 is a single-row symbology")
        let width = Int(raw.pointee.width)
        // encoded_data holds one bit per module, least significant bit first (zint's module_is_set);
        // it is read in place because the 28 KB array imports as a nested tuple.
        let offset = MemoryLayout<zint_symbol>.offset(of: \zint_symbol.encoded_data)!
        let row = UnsafeRawPointer(raw).advanced(by: offset).assumingMemoryBound(to: UInt8.self)
        return (0..<width).map { x in (row[x >> 3] >> UInt8(x & 7)) & 1 == 1 }
    }
}
