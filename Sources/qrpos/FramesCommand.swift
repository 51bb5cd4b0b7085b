import ArgumentParser
import Barcodes
import Foundation

/// `qrpos frames`: renders a scripted sequence of camera-sized frames carrying payment codes,
/// for rigs that feed a video output (vivid, v4l2loopback), for `qrpos scan --frames`, and for
/// tests. Each SPEC is `qr:TEXT*N`, `code128:TEXT*N` or `blank*N` (N frames, default 1).
struct Frames: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a scripted sequence of frames carrying codes (raw GREY, raw YUYV, or Y4M) for rigs and tests.",
        discussion: "Example: qrpos frames --out loop.raw --format grey 'qr:PAY-1*30' 'blank*30' 'code128:281234567890123452*30'")
    @Argument(help: "Segments: qr:TEXT*N, code128:TEXT*N or blank*N.") var specs: [String]
    @Option(help: "Frame size, WIDTHxHEIGHT.") var size = "640x480"
    @Option(help: "grey (raw 8-bit), yuyv (raw 4:2:2) or y4m (YUV4MPEG2 mono).") var format = "grey"
    @Option(help: "Module size in pixels for QR codes.") var module = 4
    @Option(help: "Output file (- for stdout).") var out: String

    enum Segment { case qr(String), code128(String), blank }

    func validate() throws {
        guard ["grey", "yuyv", "y4m"].contains(format) else { throw ValidationError("--format is grey, yuyv or y4m") }
        guard (1...16).contains(module) else { throw ValidationError("--module is 1 to 16 pixels") }
        _ = try dimensions()
        _ = try segments()
    }

    func dimensions() throws -> (width: Int, height: Int) {
        let parts = size.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, (16...8192).contains(parts[0]), (16...8192).contains(parts[1]), parts[0] % 2 == 0 else {
            throw ValidationError("--size is WIDTHxHEIGHT, 16 to 8192 each, even width (e.g. 640x480)")
        }
        return (parts[0], parts[1])
    }

    func segments() throws -> [(Segment, Int)] {
        try specs.map { spec in
            var body = Substring(spec)
            var count = 1
            if let star = spec.lastIndex(of: "*"), let n = Int(spec[spec.index(after: star)...]) {
                guard (1...100_000).contains(n) else { throw ValidationError("'\(spec)': the count is 1 to 100000") }
                count = n
                body = spec[..<star]
            }
            if body == "blank" { return (.blank, count) }
            if body.hasPrefix("qr:") { return (.qr(String(body.dropFirst(3))), count) }
            if body.hasPrefix("code128:") { return (.code128(String(body.dropFirst(8))), count) }
            throw ValidationError("'\(spec)' is not qr:TEXT*N, code128:TEXT*N or blank*N")
        }
    }

    func run() throws {
        let (width, height) = try dimensions()
        var output = Data()
        if format == "y4m" { output.append(Data("YUV4MPEG2 W\(width) H\(height) F30:1 Ip A1:1 Cmono\n".utf8)) }
        for (segment, count) in try segments() {
            let frame = try render(segment, width: width, height: height)
            let bytes = encode(frame)
            for _ in 0..<count {
                if format == "y4m" { output.append(Data("FRAME\n".utf8)) }
                output.append(contentsOf: bytes)
            }
        }
        if out == "-" {
            FileHandle.standardOutput.write(output)
        } else {
            try output.write(to: URL(fileURLWithPath: out), options: .atomic)
        }
    }

    /// A mid-grey "counter" background with the code centred, as a phone held to a camera.
    func render(_ segment: Segment, width: Int, height: Int) throws -> LumaFrame {
        var frame = LumaFrame(width: width, height: height, fill: 128)
        let code: LumaFrame
        switch segment {
        case .blank: return frame
        case .qr(let text): code = Render.raster(try QREncoder.encode(text), moduleSize: module, quietZone: 4)
        case .code128(let text): code = Render.raster(code128: try Code128.encode(text), moduleWidth: 2, height: 100, quietZone: 10)
        }
        guard code.width <= width, code.height <= height else {
            throw Failure("the code is \(code.width)x\(code.height) pixels: it does not fit a \(width)x\(height) frame (smaller --module?)")
        }
        let x0 = (width - code.width) / 2, y0 = (height - code.height) / 2
        for y in 0..<code.height {
            for x in 0..<code.width { frame[x0 + x, y0 + y] = code[x, y] }
        }
        return frame
    }

    func encode(_ frame: LumaFrame) -> [UInt8] {
        guard format == "yuyv" else { return frame.pixels }
        var bytes = [UInt8](repeating: 128, count: frame.pixels.count * 2)
        for (i, y) in frame.pixels.enumerated() { bytes[2 * i] = y }   // Y0 U Y1 V: chroma stays neutral
        return bytes
    }
}
