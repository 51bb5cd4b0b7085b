/// Draws QR symbols and Code 128 barcodes as pixels, terminal text or SVG.
///
/// Every rendering includes a quiet zone of light modules around the code: scanners need it to
/// find the edges (the standards ask for 4 modules for QR and 10 for Code 128).
public enum Render {
    private static let dark: UInt8 = 0
    private static let light: UInt8 = 255

    // MARK: Pixels

    /// The QR symbol as grey pixels: black modules of `moduleSize` × `moduleSize` on white, with
    /// `quietZone` light modules on every side.
    public static func raster(_ qr: QRMatrix, moduleSize: Int = 4, quietZone: Int = 4) -> LumaFrame {
        precondition(moduleSize >= 1 && quietZone >= 0, "module size must be at least 1 and the quiet zone not negative")
        let side = (qr.size + 2 * quietZone) * moduleSize
        var frame = LumaFrame(width: side, height: side, fill: light)
        for y in 0..<qr.size {
            for x in 0..<qr.size where qr.isDark(x: x, y: y) {
                let left = (x + quietZone) * moduleSize, top = (y + quietZone) * moduleSize
                for py in top..<(top + moduleSize) {
                    for px in left..<(left + moduleSize) { frame[px, py] = dark }
                }
            }
        }
        return frame
    }

    /// A Code 128 module row (from ``Code128/encode(_:)``) as grey pixels: bars `moduleWidth`
    /// pixels wide and `height` pixels tall, with `quietZone` light modules left and right.
    public static func raster(code128 modules: [Bool], moduleWidth: Int = 2, height: Int = 80, quietZone: Int = 10) -> LumaFrame {
        precondition(!modules.isEmpty && moduleWidth >= 1 && height >= 1 && quietZone >= 0, "bad Code 128 raster geometry")
        let width = (modules.count + 2 * quietZone) * moduleWidth
        var row = [UInt8](repeating: light, count: width)
        for (x, bar) in modules.enumerated() where bar {
            let left = (x + quietZone) * moduleWidth
            for px in left..<(left + moduleWidth) { row[px] = dark }
        }
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height)
        for _ in 0..<height { pixels.append(contentsOf: row) }
        return LumaFrame(width: width, height: height, pixels: pixels)
    }

    // MARK: Terminal

    /// SGR for black (palette 16) on white (palette 231). These are entries of the fixed 256-colour
    /// cube, which themes leave alone, unlike the 16 named colours: "white" (47) is mid-grey in
    /// some themes and a dark theme may swap black and white, and a phone needs real contrast.
    private static let blackOnWhite = "\u{1B}[38;5;16;48;5;231m"
    private static let reset = "\u{1B}[0m"

    /// The QR symbol as text, two module rows per line with the half blocks `▀ ▄ █` and space,
    /// which keeps modules square in a terminal whose cells are twice as tall as wide.
    ///
    /// A block is a dark module. With `ansi`, each line is drawn black on white with explicit
    /// colours and reset at its end, so it scans on dark and light themes alike. Without, the text
    /// assumes dark glyphs on a light background (a printout, a light theme); on a dark theme it
    /// comes out inverted, which many phone scanners do not read.
    public static func terminal(_ qr: QRMatrix, quietZone: Int = 2, ansi: Bool = true) -> String {
        precondition(quietZone >= 0, "the quiet zone must not be negative")
        let side = qr.size + 2 * quietZone
        func isDark(_ x: Int, _ y: Int) -> Bool {
            let mx = x - quietZone, my = y - quietZone
            guard (0..<qr.size).contains(mx), (0..<qr.size).contains(my) else { return false }
            return qr.isDark(x: mx, y: my)
        }
        var text = ""
        for y in stride(from: 0, to: side, by: 2) {
            if ansi { text += blackOnWhite }
            for x in 0..<side {
                // A missing last row (an odd number of rows) counts as light.
                switch (isDark(x, y), y + 1 < side && isDark(x, y + 1)) {
                case (true, true): text += "█"
                case (true, false): text += "▀"
                case (false, true): text += "▄"
                case (false, false): text += " "
                }
            }
            if ansi { text += reset }
            text += "\n"
        }
        return text
    }

    /// A Code 128 module row as `height` lines of half blocks, two modules per column (`█` both
    /// bars, `▌` bar then gap, `▐` gap then bar, space both gaps), so an 18-digit payment code
    /// (134 modules) fits an 80-column terminal: 77 columns with the quiet zone. `quietZone` is
    /// in modules on each side; colours as in ``terminal(_:quietZone:ansi:)``.
    public static func terminal(code128 modules: [Bool], height: Int = 4, quietZone: Int = 10, ansi: Bool = true) -> String {
        precondition(!modules.isEmpty && height >= 1 && quietZone >= 0, "bad Code 128 terminal geometry")
        var row = [Bool](repeating: false, count: quietZone) + modules + [Bool](repeating: false, count: quietZone)
        if row.count % 2 == 1 { row.append(false) }
        var line = ansi ? blackOnWhite : ""
        for i in stride(from: 0, to: row.count, by: 2) {
            switch (row[i], row[i + 1]) {
            case (true, true): line += "█"
            case (true, false): line += "▌"
            case (false, true): line += "▐"
            case (false, false): line += " "
            }
        }
        if ansi { line += reset }
        line += "\n"
        return String(repeating: line, count: height)
    }

    // MARK: SVG

    /// The QR symbol as a standalone SVG document: a white background `<rect>` and one black
    /// `<path>` made of a rectangle per horizontal run of dark modules. The `viewBox` is in modules
    /// (quiet zone included), `width` and `height` in pixels of `moduleSize`, and
    /// `shape-rendering="crispEdges"` keeps renderers from blurring module edges.
    public static func svg(_ qr: QRMatrix, moduleSize: Int = 8, quietZone: Int = 4) -> String {
        precondition(moduleSize >= 1 && quietZone >= 0, "module size must be at least 1 and the quiet zone not negative")
        let side = qr.size + 2 * quietZone
        // Bytes and hand-written decimals: string interpolation per run was a third of the
        // time of a receipt's HTML page (`qrpos bench receipt`).
        var path: [UInt8] = []
        path.reserveCapacity(qr.size * qr.size * 3)
        func decimal(_ value: Int) {
            if value >= 10 { decimal(value / 10) }
            path.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        for y in 0..<qr.size {
            var x = 0
            while x < qr.size {
                guard qr.isDark(x: x, y: y) else { x += 1; continue }
                let start = x
                while x < qr.size, qr.isDark(x: x, y: y) { x += 1 }
                // M<x>,<y>h<run>v1h-<run>z
                path.append(UInt8(ascii: "M"))
                decimal(start + quietZone)
                path.append(UInt8(ascii: ","))
                decimal(y + quietZone)
                path.append(UInt8(ascii: "h"))
                decimal(x - start)
                path.append(contentsOf: "v1h-".utf8)
                decimal(x - start)
                path.append(UInt8(ascii: "z"))
            }
        }
        return document(width: side * moduleSize, height: side * moduleSize,
                        viewWidth: side, viewHeight: side, path: String(decoding: path, as: UTF8.self))
    }

    /// A Code 128 module row as a standalone SVG document, laid out like
    /// ``raster(code128:moduleWidth:height:quietZone:)``: the `viewBox` is in pixels, one
    /// rectangle per bar in a single `<path>`, on a white background `<rect>`.
    public static func svg(code128 modules: [Bool], moduleWidth: Int = 2, height: Int = 80, quietZone: Int = 10) -> String {
        precondition(!modules.isEmpty && moduleWidth >= 1 && height >= 1 && quietZone >= 0, "bad Code 128 SVG geometry")
        let width = (modules.count + 2 * quietZone) * moduleWidth
        var path = ""
        var x = 0
        while x < modules.count {
            guard modules[x] else { x += 1; continue }
            let start = x
            while x < modules.count, modules[x] { x += 1 }
            let barWidth = (x - start) * moduleWidth
            path += "M\((start + quietZone) * moduleWidth),0h\(barWidth)v\(height)h-\(barWidth)z"
        }
        return document(width: width, height: height, viewWidth: width, viewHeight: height, path: path)
    }

    private static func document(width: Int, height: Int, viewWidth: Int, viewHeight: Int, path: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
        viewBox="0 0 \(viewWidth) \(viewHeight)" shape-rendering="crispEdges">\
        <rect width="\(viewWidth)" height="\(viewHeight)" fill="#fff"/>\
        <path fill="#000" d="\(path)"/></svg>

        """
    }
}
