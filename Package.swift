// swift-tools-version: 6.2
import PackageDescription

/// Our own targets: Swift 6 language mode (strict concurrency), and every warning is an error.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "qrpos",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "qrpos", targets: ["qrpos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // MARK: C libraries, found through pkg-config and installed from Debian (hardware/deps.sh).
        .systemLibrary(name: "CZBar", pkgConfig: "zbar", providers: [.apt(["libzbar-dev"])]),
        .systemLibrary(name: "CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // Debian's libzint-dev ships no .pc file; the module map links -lzint directly.
        .systemLibrary(name: "CZint", providers: [.apt(["libzint-dev"])]),

        // MARK: The one seeded generator (SplitMix64), for the corpus, simulations and tests.
        .target(name: "SeededRandom", swiftSettings: strict),

        // MARK: Pure values and codecs.
        .target(name: "Payments", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),

        // MARK: Images, QR and barcode generation, decoding.
        .target(name: "Barcodes", dependencies: ["CZBar", "CQREncode", "CPNG", "CZint", "SeededRandom"], swiftSettings: strict),

        // MARK: V4L2 capture and frame sources.
        .target(name: "Camera", dependencies: ["CV4L2", "Barcodes"], swiftSettings: strict),

        // MARK: The wallet ledger: model and rules, then its stores.
        .target(name: "Ledger", dependencies: ["Payments"], swiftSettings: strict),
        .target(name: "LedgerSQLite", dependencies: [
            "Ledger", "Payments",
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ], swiftSettings: strict),

        .target(name: "LedgerPostgres", dependencies: [
            "Ledger", "Payments",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // A bank's payment rail, simulated: settlement after business days, returns, duplicate
        // and late callbacks (no real bank can be reached from these machines).
        .target(name: "BankRail", dependencies: ["Payments", "SeededRandom"], swiftSettings: strict),

        // MARK: Receipts and the checkout.
        .target(name: "Receipts", dependencies: [
            "Payments", "Barcodes",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "Terminal", dependencies: [
            "Payments", "Ledger", "LedgerSQLite", "Camera", "Receipts", "Barcodes",
            .product(name: "GRDB", package: "GRDB.swift"),
            // The terminal's HTTP client of the ledger server (FoundationNetworking's URLSession
            // kept a core busy while it waited for an answer).
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: strict),

        // MARK: The ledger on HTTP, for a fleet of terminals.
        .target(name: "LedgerServer", dependencies: [
            "Ledger", "Payments", "SeededRandom",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),

        .target(name: "TillServer", dependencies: [
            "Terminal", "Barcodes",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // MARK: The one executable.
        .executableTarget(name: "qrpos", dependencies: [
            "Payments", "Barcodes", "Camera", "Ledger", "LedgerSQLite", "LedgerPostgres", "Receipts", "Terminal", "BankRail", "SeededRandom",
            "LedgerServer", "TillServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // MARK: Tests mirror the modules; QrposTestSupport is what several of them share.
        .target(name: "QrposTestSupport", dependencies: ["Barcodes"], path: "Tests/Support", swiftSettings: strict),
        .testTarget(name: "PaymentsTests", dependencies: ["Payments", "SeededRandom"], swiftSettings: strict),
        .testTarget(name: "BarcodesTests", dependencies: ["Barcodes", "SeededRandom"], swiftSettings: strict),
        .testTarget(name: "CameraTests", dependencies: ["Camera", "Barcodes"], swiftSettings: strict),
        .testTarget(name: "LedgerTests", dependencies: [
            "Ledger", "LedgerSQLite", "LedgerPostgres", "Payments", "BankRail", "SeededRandom", "QrposTestSupport",
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .testTarget(name: "ReceiptsTests", dependencies: ["Receipts", "Payments", "Barcodes", "QrposTestSupport"], swiftSettings: strict),
        .testTarget(name: "TerminalTests", dependencies: [
            "Terminal", "Ledger", "LedgerSQLite", "Payments", "Barcodes", "Receipts", .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        // Boots a QEMU guest with a real V4L2 driver; runs whenever QEMU is installed.
        .testTarget(name: "HardwareTests", swiftSettings: strict),
        .testTarget(name: "LedgerServerTests", dependencies: [
            "LedgerServer", "Ledger", "LedgerSQLite", "Terminal", "Payments", "BankRail",
        ], swiftSettings: strict),
        .testTarget(name: "qrposTests", dependencies: ["Payments", "Barcodes", "QrposTestSupport", "LedgerServer", "SeededRandom", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
