/// The kinds of code qrpos reads and writes.
public enum Symbology: String, Sendable, Hashable, Codable, CaseIterable {
    /// Spelled as zbar names it (`zbar_get_symbol_name`), which is what `qrpos scan` prints.
    case qrCode = "QR-Code"
    case code128 = "CODE-128"
}

/// One code found in a frame: its symbology and its exact bytes (zbar in binary mode, so nothing
/// is transcoded).
public struct ScannedCode: Sendable, Hashable {
    public let symbology: Symbology
    public let data: [UInt8]

    public init(symbology: Symbology, data: [UInt8]) {
        self.symbology = symbology
        self.data = data
    }

    /// The data as text when it is valid UTF-8, else nil.
    public var text: String? {
        String(validating: data, as: UTF8.self)
    }
}
