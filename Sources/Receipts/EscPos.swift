import Barcodes
import Foundation

/// What a receipt printer can do, as hardware/printers/NAME.json describes it (the figures of
/// escpos-printer-db's profiles): paper, dots a line, the font-A columns, a native QR command
/// or not, a cutter or not, and the code page its text is sent in.
public struct PrinterProfile: Codable, Sendable, Equatable {
    public let name: String
    public let paperMillimetres: Int
    public let dotsPerLine: Int
    public let columns: Int
    /// `GS ( k`: the printer draws the QR itself. Without it the QR goes as a `GS v 0` raster.
    public let nativeQR: Bool
    public let cutter: Bool
    /// "cp437" or "cp858".
    public let codePage: String

    enum CodingKeys: String, CodingKey {
        case name, columns, cutter
        case paperMillimetres = "paper_mm"
        case dotsPerLine = "dots_per_line"
        case nativeQR = "native_qr"
        case codePage = "code_page"
    }

    public init(name: String, paperMillimetres: Int, dotsPerLine: Int, columns: Int, nativeQR: Bool, cutter: Bool, codePage: String) {
        self.name = name
        self.paperMillimetres = paperMillimetres
        self.dotsPerLine = dotsPerLine
        self.columns = columns
        self.nativeQR = nativeQR
        self.cutter = cutter
        self.codePage = codePage
    }

    /// An 80 mm printer with a native QR and a cutter (Epson TM-T20II's figures).
    public static let epson80 = PrinterProfile(name: "tm-t20ii", paperMillimetres: 80, dotsPerLine: 576, columns: 48, nativeQR: true,
                                               cutter: true, codePage: "cp858")
    /// A cheap 58 mm printer: no QR command, no cutter (POS-5890's figures).
    public static let cheap58 = PrinterProfile(name: "pos-5890", paperMillimetres: 58, dotsPerLine: 384, columns: 32, nativeQR: false,
                                               cutter: false, codePage: "cp437")
}

/// A receipt as ESC/POS bytes for a thermal printer: initialise, code page, the text laid out by
/// ``TextReceipt`` for the profile's columns (the merchant's name emphasised), the receipt's
/// verification string as a QR (native `GS ( k`, or a `GS v 0` raster that fits the paper),
/// feed, and cut when the printer has a cutter.
///
/// Text the code page cannot show is transliterated (accents dropped, then "?"), never dropped
/// silently: what was replaced is returned with the bytes.
public enum EscPos {
    public struct Output: Sendable, Equatable {
        public let bytes: [UInt8]
        /// Each character the code page could not show, and what was printed instead.
        public let replaced: [String]
    }

    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// `ESC t n` for the code pages qrpos sends text in (Epson's numbering).
    static let codePageNumbers: [String: UInt8] = ["cp437": 0, "cp858": 19]

    /// The upper halves (0x80–0xFF) of the code pages, as Python's codecs decode them.
    static let upperHalves: [String: [Character]] = [
        "cp437": Array("ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}"),
        "cp858": Array("ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈ€ÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u{ad}±‗¾¶§÷¸°¨·¹³²■\u{a0}"),
    ]

    /// Each code page's characters to their bytes, made once.
    static let byteTables: [String: [Character: UInt8]] = upperHalves.mapValues { upper in
        Dictionary(uniqueKeysWithValues: upper.enumerated().map { ($0.element, UInt8(0x80 + $0.offset)) })
    }

    /// The receipt for `profile`; a `copy` (a reprint) is marked as one.
    public static func render(_ signed: SignedReceipt, profile: PrinterProfile, copy: Bool = false) throws -> Output {
        var (out, replaced) = try text(TextReceipt.render(signed, columns: profile.columns, copy: copy), profile: profile)
        // The verification string (the receipt's signed stamp), centred.
        let verification: String
        do { verification = try ReceiptCodec.stamp(signed) } catch { throw Failed(description: "\(error)") }
        out += [0x0A, 0x1B, 0x61, 1]
        out += profile.nativeQR ? try nativeQR(verification, dots: profile.dotsPerLine) : try rasterQR(verification, dots: profile.dotsPerLine)
        out += [0x0A, 0x1B, 0x61, 0]
        finish(&out, profile: profile)
        return Output(bytes: out, replaced: replaced)
    }

    /// An X or Z report, laid out as a receipt is, fed and cut.
    public static func render(report: DayReport, profile: PrinterProfile, copy: Bool = false) throws -> Output {
        var (out, replaced) = try text(report.text(columns: profile.columns, copy: copy), profile: profile)
        finish(&out, profile: profile)
        return Output(bytes: out, replaced: replaced)
    }

    /// Initialise, the code page, then `text`'s lines in it, the first emphasised.
    private static func text(_ text: String, profile: PrinterProfile) throws -> (bytes: [UInt8], replaced: [String]) {
        guard let page = codePageNumbers[profile.codePage], let table = byteTables[profile.codePage] else {
            throw Failed(description: "code page \(profile.codePage) is not one qrpos sends text in (cp437, cp858)")
        }
        var out: [UInt8] = [0x1B, 0x40, 0x1B, 0x74, page]
        var replaced: [String] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        for (index, line) in lines.enumerated() {
            if index == 0 { out += [0x1B, 0x45, 1] }
            out += encode(String(line), table: table, replaced: &replaced)
            out.append(0x0A)
            if index == 0 { out += [0x1B, 0x45, 0] }
        }
        return (out, replaced)
    }

    /// Feed past the cutter, then cut (a printer without one gets the feed alone).
    private static func finish(_ out: inout [UInt8], profile: PrinterProfile) {
        out += [0x1B, 0x64, 4]
        if profile.cutter { out += [0x1D, 0x56, 66, 0] }
    }

    /// `GS ( k`: model 2, the module size that fits the paper, level M, store, print.
    static func nativeQR(_ text: String, dots: Int) throws -> [UInt8] {
        let data = Array(text.utf8)
        guard data.count + 3 <= 0xFFFF else { throw Failed(description: "a QR of \(data.count) bytes is too long for GS ( k") }
        // The printer encodes the QR itself; only its size is needed here, to fit the paper, and
        // encoding it to learn that cost a millisecond (libqrencode's mask choice).
        let modules = qrModules(bytes: data.count)
        let size = UInt8(max(1, min(16, dots / (modules + 8))))
        func command(_ fn: UInt8, _ parameters: [UInt8]) -> [UInt8] {
            let length = parameters.count + 2
            return [0x1D, 0x28, 0x6B, UInt8(length & 0xFF), UInt8(length >> 8), 0x31, fn] + parameters
        }
        return command(0x41, [0x32, 0x00]) + command(0x43, [size]) + command(0x45, [0x31]) + command(0x50, [0x30] + data) + command(0x51, [0x30])
    }

    /// Byte-mode capacities at level M, versions 1 to 40 (ISO/IEC 18004 table 7).
    static let byteCapacityM = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
                                711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370, 1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331]

    /// The side, in modules, of the smallest level-M QR holding `bytes` bytes (the largest, 177,
    /// past version 40's capacity).
    public static func qrModules(bytes: Int) -> Int {
        let version = (byteCapacityM.firstIndex { $0 >= bytes } ?? 39) + 1
        return 17 + 4 * version
    }

    /// `GS v 0`: the QR drawn here, scaled to the largest whole module that fits the paper with
    /// its quiet zone, one bit a dot (1 = black), rows padded to whole bytes.
    static func rasterQR(_ text: String, dots: Int) throws -> [UInt8] {
        let matrix = try QREncoder.encode(text)
        let quiet = 4
        let scale = max(1, dots / (matrix.size + 2 * quiet))
        let side = (matrix.size + 2 * quiet) * scale
        guard side <= dots else { throw Failed(description: "a QR of \(matrix.size) modules does not fit \(dots) dots") }
        let rowBytes = (side + 7) / 8
        var image = [UInt8](repeating: 0, count: rowBytes * side)
        // One row of dots per row of modules, copied `scale` times.
        for my in 0..<matrix.size {
            var row = [UInt8](repeating: 0, count: rowBytes)
            for mx in 0..<matrix.size where matrix.isDark(x: mx, y: my) {
                for x in ((mx + quiet) * scale)..<((mx + quiet + 1) * scale) { row[x / 8] |= 0x80 >> UInt8(x % 8) }
            }
            for y in ((my + quiet) * scale)..<((my + quiet + 1) * scale) {
                image.replaceSubrange((y * rowBytes)..<((y + 1) * rowBytes), with: row)
            }
        }
        return [0x1D, 0x76, 0x30, 0, UInt8(rowBytes & 0xFF), UInt8(rowBytes >> 8), UInt8(side & 0xFF), UInt8(side >> 8)] + image
    }

    /// Typography with a plain stand-in of the same width (the line was laid out already).
    static let standIns: [Character: Character] = ["…": ".", "–": "-", "—": "-", "‘": "'", "’": "'", "“": "\"", "”": "\"", "•": "*"]

    /// The line in the code page: ASCII as it is, the page's own characters by their byte, the
    /// rest as a plain stand-in of the same width, or without its accents, else "?" (each one
    /// recorded).
    static func encode(_ line: String, table: [Character: UInt8], replaced: inout [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for character in line {
            if let ascii = character.asciiValue, ascii >= 0x20, ascii < 0x7F {
                bytes.append(ascii)
            } else if let byte = table[character] {
                bytes.append(byte)
            } else if let standIn = standIns[character], let ascii = standIn.asciiValue {
                bytes.append(ascii)
                replaced.append("\(character) → \(standIn)")
            } else {
                let plain = String(character).applyingTransform(.stripDiacritics, reverse: false) ?? ""
                if plain.count == 1, let ascii = plain.first?.asciiValue, ascii >= 0x20, ascii < 0x7F {
                    bytes.append(ascii)
                    replaced.append("\(character) → \(plain)")
                } else {
                    // A character two columns wide keeps its width.
                    let width = TextReceipt.displayWidth(String(character))
                    bytes += [UInt8](repeating: 0x3F, count: max(1, width))
                    replaced.append("\(character) → " + String(repeating: "?", count: max(1, width)))
                }
            }
        }
        return bytes
    }
}
