import CZBar

/// Finds QR codes and Code 128 barcodes in grey frames with zbar.
///
/// Not `Sendable`: the `zbar_image_scanner_t` it owns keeps state between scans and is not
/// thread-safe. Make one scanner per thread or task; two scanners on two cores scale linearly.
public final class CodeScanner {
    /// The scanner from `zbar_image_scanner_create`, destroyed in `deinit`.
    private let scanner: OpaquePointer
    /// The symbologies this scanner looks for.
    public let symbologies: Set<Symbology>

    /// A scanner for `symbologies` only, wrapping `zbar_image_scanner_create` and
    /// `zbar_image_scanner_set_config`.
    ///
    /// Every other symbology is switched off (`ZBAR_NONE`, `ZBAR_CFG_ENABLE` 0): with all of
    /// them on, zbar is 4–5 times slower and may report false positives from noise. QR data is
    /// read with `ZBAR_CFG_BINARY` 1 so zbar returns the exact bytes instead of guessing a text
    /// encoding and transcoding them.
    ///
    /// - Parameter density: scan every `density`-th line and column (`ZBAR_CFG_X_DENSITY`,
    ///   `ZBAR_CFG_Y_DENSITY`). 2 halves the time on large camera frames; 1 is the most thorough.
    public init(symbologies: Set<Symbology> = [.qrCode, .code128], density: Int = 1) {
        precondition(!symbologies.isEmpty, "a scanner needs at least one symbology")
        precondition(density >= 1, "scan density must be at least 1")
        guard let scanner = zbar_image_scanner_create() else {
            fatalError("zbar_image_scanner_create: out of memory")
        }
        self.scanner = scanner
        self.symbologies = symbologies
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0)
        for symbology in symbologies {
            zbar_image_scanner_set_config(scanner, symbology.zbarType, ZBAR_CFG_ENABLE, 1)
        }
        if symbologies.contains(.qrCode) {
            zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1)
        }
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_X_DENSITY, Int32(density))
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_Y_DENSITY, Int32(density))
    }

    deinit { zbar_image_scanner_destroy(scanner) }

    /// Every code found in `frame`, in zbar's order, wrapping `zbar_scan_image` on a `Y800` image.
    ///
    /// zbar borrows the frame's pixels for the duration of the call (no copy, no cleanup handler);
    /// each symbol's bytes are copied out with `zbar_symbol_get_data_length`, since they may hold
    /// NUL, before the image and its symbols are destroyed.
    public func scan(_ frame: LumaFrame) -> [ScannedCode] {
        decode(frame).map(\.code)
    }

    /// A code zbar found, with how many of its scan lines agreed on it.
    public struct Decode: Sendable, Hashable {
        public let code: ScannedCode
        /// `zbar_symbol_get_quality`: for a barcode, the number of scan lines that decoded these
        /// exact bytes; for a QR code always 1 (its Reed–Solomon check stands in).
        public let quality: Int
    }

    /// Like ``scan(_:)``, with each code's quality: a barcode read on one scan line only is
    /// worth less than one read the same on several, since one line can misread (a bar lost to
    /// blur can still leave a valid check character).
    public func decode(_ frame: LumaFrame) -> [Decode] {
        let image = ZBarImage()
        zbar_image_set_format(image.raw, ZBarImage.y800)
        zbar_image_set_size(image.raw, UInt32(frame.width), UInt32(frame.height))
        return frame.pixels.withUnsafeBytes { pixels in
            zbar_image_set_data(image.raw, pixels.baseAddress, UInt(pixels.count), nil)
            // The image must not keep a pointer into the array once this closure returns.
            defer { zbar_image_set_data(image.raw, nil, 0, nil) }
            let found = zbar_scan_image(scanner, image.raw)
            // -1 means zbar could not handle the image format, which Y800 always is.
            precondition(found >= 0, "zbar_scan_image rejected a Y800 image")
            var codes: [Decode] = []
            var symbol = zbar_image_first_symbol(image.raw)
            while let current = symbol {
                if let symbology = Symbology(zbarType: zbar_symbol_get_type(current)) {
                    let count = Int(zbar_symbol_get_data_length(current))
                    let data = zbar_symbol_get_data(current).map { start in
                        start.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
                    } ?? []
                    codes.append(Decode(code: ScannedCode(symbology: symbology, data: data),
                                        quality: Int(zbar_symbol_get_quality(current))))
                }
                symbol = zbar_symbol_next(current)
            }
            return codes
        }
    }
}

// A scanner must not be shared between tasks; this makes the compiler say so.
@available(*, unavailable)
extension CodeScanner: Sendable {}

/// Owns one `zbar_image_t` from `zbar_image_create`, released by `zbar_image_destroy` (which
/// also releases the symbols found in it).
private struct ZBarImage: ~Copyable {
    /// The fourcc 'Y800' (8-bit grey). zbar's `zbar_fourcc` macro does not import into Swift.
    static let y800: UInt = 0x3030_3859

    let raw: OpaquePointer

    init() {
        guard let raw = zbar_image_create() else { fatalError("zbar_image_create: out of memory") }
        self.raw = raw
    }

    deinit { zbar_image_destroy(raw) }
}

extension Symbology {
    var zbarType: zbar_symbol_type_t {
        switch self {
        case .qrCode: ZBAR_QRCODE
        case .code128: ZBAR_CODE128
        }
    }

    init?(zbarType: zbar_symbol_type_t) {
        switch zbarType {
        case ZBAR_QRCODE: self = .qrCode
        case ZBAR_CODE128: self = .code128
        default: return nil
        }
    }
}
