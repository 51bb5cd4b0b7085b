import ArgumentParser
import Barcodes
import Foundation
import Ledger
import Payments
import Terminal

/// The customer's phone, for offline payments, kept in <home>/phones/<wallet>.json: its device
/// key, its certificate and its counter. No phone can run here, so this file stands in for the
/// wallet app's secure storage; what it does with them (reserve, certify, sign each code) is
/// what the app does.
struct PhoneState: Codable {
    var deviceSeed: String      // base45
    var certificate: String?    // base45 of the certificate's bytes
    var counter: UInt32
    /// The certificate's cryptogram key (hex), given with it: every code then carries a cryptogram.
    var cryptogramKey: String?

    static func path(_ store: StoreOptions, wallet: String) -> String {
        ((store.homeDirectory as NSString).appendingPathComponent("phones") as NSString).appendingPathComponent(wallet + ".json")
    }

    static func load(_ path: String) throws -> PhoneState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try JSONDecoder().decode(PhoneState.self, from: data)
    }

    func save(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The wallet's phone state (made, and saved, on first use) and its device key.
    static func device(_ store: StoreOptions, wallet: String) throws -> (state: PhoneState, key: OfflineDeviceKey, path: String) {
        let path = Self.path(store, wallet: wallet)
        var made = false
        let phone = try load(path) ?? {
            made = true
            return PhoneState(deviceSeed: Base45.encode(OfflineDeviceKey().seed), certificate: nil, counter: 0)
        }()
        guard let seed = Base45.decode(phone.deviceSeed) else { throw Failure("the phone's key in \(path) is damaged") }
        if made { try phone.save(path) }
        return (phone, try OfflineDeviceKey(seed: seed), path)
    }
}

extension WalletCommand {
    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an offline payment code: a certificate issued while online (its allowance reserved on the wallet) and a fresh signed code for the next payment.",
            discussion: """
                With --allowance (or when the wallet's phone has no certificate yet) the ledger reserves \
                that much of the wallet and issues a certificate valid for --valid-hours; every call then \
                prints a new code (the phone's counter plus one, the time now), which a terminal accepts \
                with no network (`qrpos charge --code CODE`). The phone's key and counter are kept in \
                <home>/phones/<wallet>.json.
                """)
        @OptionGroup var store: StoreOptions
        @Argument(help: "Wallet id.") var wallet: String
        @Option(help: "Reserve this much for offline payments and issue a new certificate, e.g. 200.00.") var allowance: String?
        @Option(name: .customLong("valid-hours"), help: "How long a new certificate is valid.") var validHours: Int = 72
        @Option(help: ArgumentHelp("Also write the code as a QR to this PNG file.", valueName: "file")) var png: String?
        @Flag(help: "Also draw the code as a QR in the terminal.") var terminal = false
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var phoneServer: PhoneServerOptions

        func validate() throws {
            guard (1...24 * 30).contains(validHours) else { throw ValidationError("--valid-hours is 1 to 720") }
        }

        func run() throws {
            var (phone, device, path) = try PhoneState.device(store, wallet: wallet)
            let now = UnixTime.nowMillis()
            var certificate = try phone.certificate.flatMap(Base45.decode).map { try OfflineCertificate(bytes: $0) }
            if let client = try phoneServer.client(store, wallet: wallet), allowance != nil || certificate == nil || certificate!.validUntil < now {
                // Through the ledger server: it reserves the allowance and signs the certificate.
                guard let allowance else {
                    throw Failure(certificate == nil ? "this wallet's phone has no offline certificate yet: give --allowance" : "the offline certificate has expired: give --allowance for a new one")
                }
                let currency = try phoneCall { try client.walletBalance() }["currency"].flatMap(Currency.init) ?? .CNY
                let amount: Money
                do { amount = try Money(parsing: allowance, currency: currency) } catch { throw Failure("\(error)") }
                let receiver = CryptogramKeyReceiver()
                let answer = try phoneCall {
                    try client.requestCertificate(CertificateRequestWire(serial: UUIDv7.make(), deviceKey: device.publicKey.hex,
                                                                         allowance: amount.minorUnits, currency: currency.code,
                                                                         validUntil: now + Int64(validHours) * 3_600_000,
                                                                         agreementKey: Hex.string(receiver.agreementKey)))
                }
                guard answer.status == "issued", let text = answer.certificate, let bytes = Base45.decode(text) else {
                    throw Declined(reason: answer.reason ?? "the ledger issued no certificate")
                }
                certificate = try OfflineCertificate(bytes: bytes)
                guard certificate!.devicePublicKey == device.publicKey, certificate!.walletID == wallet else {
                    throw Failure("the ledger server's certificate is not for this phone")
                }
                phone.certificate = text
                // A server too old to seal one gives none: the codes then carry the signature alone.
                phone.cryptogramKey = try answer.sealedCryptogramKey.map { sealed in
                    guard let bytes = Hex.bytes(sealed) else { throw Failure("the ledger server's sealed cryptogram key is not hex") }
                    return Hex.string(try receiver.open(bytes, for: certificate!))
                }
            } else if allowance != nil || certificate == nil || certificate!.validUntil < now {
                let ledger = try store.openCore()
                guard let account = try ledger.account(wallet), account.kind == .wallet else { throw Failure("no wallet \(wallet)") }
                guard let allowance else {
                    throw Failure(certificate == nil ? "this wallet's phone has no offline certificate yet: give --allowance" : "the offline certificate has expired: give --allowance for a new one")
                }
                let amount: Money
                do { amount = try Money(parsing: allowance, currency: account.currency) } catch { throw Failure(error.message) }
                let serial = UUIDv7.make()
                let validUntil = now + Int64(validHours) * 3_600_000
                let outcome = try WalletOperations(store: ledger).reserveOfflineAllowance(serial: serial, wallet: wallet, amount: amount,
                                                                                         validUntil: validUntil, now: now)
                if let decline = outcome.decline { throw Declined(reason: decline.description) }
                let issuer = try store.offlineIssuerKey()
                certificate = try OfflineCertificate.issue(serial: serial, walletID: wallet, device: device.publicKey, allowance: amount,
                                                           validFrom: now, validUntil: validUntil, issuer: issuer)
                phone.certificate = Base45.encode(certificate!.bytes)
                phone.cryptogramKey = Hex.string(issuer.cryptogramKey(for: certificate!))
            }
            phone.counter += 1
            // The counter is saved before the code is shown: a code is never shown twice.
            try phone.save(path)
            let cryptogramKey = try phone.cryptogramKey.map { hex in
                guard let key = Hex.bytes(hex), key.count == 32 else { throw Failure("the phone's cryptogram key in \(path) is damaged") }
                return key
            }
            let token = try OfflineToken.make(certificate: certificate!, device: device, counter: phone.counter, time: now,
                                              cryptogramKey: cryptogramKey)
            if let png { try ImageFile.write(Render.raster(try QREncoder.encode(token.text), moduleSize: 4), to: png) }
            if terminal { print(Render.terminal(try QREncoder.encode(token.text))) }
            if json {
                printJSON(["code": token.text, "certificate": certificate!.serial, "counter": Int(phone.counter),
                           "allowance": certificate!.allowance.decimalString, "currency": certificate!.allowance.currency.code,
                           "valid_until": certificate!.validUntil])
            } else {
                print(token.text)
            }
        }
    }
}

/// `qrpos sync push`: forwards the journal's offline payments to the ledger.
struct SyncPushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Forward the payments taken offline to the ledger, in batches, retrying with backoff; each is settled once.",
        discussion: "Exits 0 when nothing is left waiting, 1 when the ledger could not be reached (nothing is lost: run it again).")
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @Option(help: ArgumentHelp("The journal (default <home>/journal.sqlite).", valueName: "path")) var journal: String?
    @Option(help: ArgumentHelp("A ledger server (qrpos ledger serve) to forward to, signed with <home>/terminal-key; without it, the ledger named by --database/--home.", valueName: "url"))
    var server: String?
    @Option(name: .customLong("timeout"), help: "Seconds to wait for the server's answer to a batch.") var timeoutSeconds: Double = 10
    @Option(name: .customLong("batch-size"), help: "Payments per batch (1 to 1000).") var batchSize = 500
    @Option(help: "Tries of a batch before giving up (the pauses between double from 0.2 s).") var attempts = 5
    @Option(name: .customLong("in-flight"), help: "Batches out at once (1 to 8): the server checks one while it writes another.") var inFlight = 2

    func validate() throws {
        guard (1...1_000).contains(batchSize) else { throw ValidationError("--batch-size is 1 to 1000") }
        guard (1...20).contains(attempts) else { throw ValidationError("--attempts is 1 to 20") }
        guard (1...8).contains(inFlight) else { throw ValidationError("--in-flight is 1 to 8") }
    }
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let path = journal ?? (store.homeDirectory as NSString).appendingPathComponent("journal.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { throw Failure("no terminal journal at \(path)") }
        let settler: any OfflineSettler
        if let server {
            guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else { throw Failure("--server is an http:// URL, not \(server)") }
            settler = LedgerClient(server: url, terminalID: terminal.terminal, key: try store.terminalKey(), timeoutSeconds: timeoutSeconds)
        } else {
            let issuer = try store.offlineIssuerKey()
            settler = LedgerSettler(ops: WalletOperations(store: try store.openCore()), issuers: [issuer.publicKey], issuer: issuer,
                                    clockSkewMillis: OfflinePolicy.standard(for: .CNY).clockSkewMillis)
        }
        let journal = try TerminalJournal(path: path)
        var forwarder = Forwarder(journal: journal, settler: settler)
        forwarder.batchSize = batchSize
        forwarder.attemptsMax = attempts
        forwarder.inFlight = inFlight
        // On a terminal, the upload's progress on stderr, one line rewritten (rigs and --json get none).
        let waiting0 = try journal.syncStatus(now: UnixTime.nowMillis()).unsyncedCount
        let showing = isatty(STDERR_FILENO) == 1 && waiting0 > 0
        let report = try forwarder.forwardAll(progress: { sofar, pause in
            guard showing else { return }
            let done = sofar.settled + sofar.refused
            var line = "\rforwarding: \(done) of \(waiting0) (\(done * 100 / max(1, waiting0)) %), settled \(sofar.settled), refused \(sofar.refused)"
            if let pause { line += ", the ledger did not answer: trying again in \(Double(pause) / 1000) s" }
            FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        })
        if showing { FileHandle.standardError.write(Data("\n".utf8)) }
        // Orders the terminal could not close with the ledger server: closed now, or refunded if
        // they were paid after the terminal gave up.
        var reconciled: [Checkout.Reconciled] = []
        var sales: [Checkout.ReconciledSale] = []
        if let client = settler as? LedgerClient, try journal.syncStatus(now: UnixTime.nowMillis()).undecidedCount > 0 {
            let checkout = try remoteCheckout(client, store: store, terminal: terminal)
            reconciled = try checkout.reconcileOrders(journal: journal, client: client)
            // Sales nobody retried: settled once no copy of their request can reach the ledger.
            let window = try TerminalConfigFile(store).load(client).requestWindowMillis ?? 300_000
            sales = try checkout.reconcileSales(journal: journal, client: client, requestWindowMillis: window)
        }
        let reversed = sales.compactMap { if case .reversed(let sale, let refund) = $0 { [sale, refund] } else { nil } }
        let voided = sales.filter { if case .voided = $0 { true } else { false } }.count
        let refunded = reconciled.compactMap { if case .refunded(let order, let payment, let refund) = $0 { [order, payment, refund] } else { nil } }
        let waiting = reconciled.filter { if case .waiting = $0 { true } else { false } }.count
        if json {
            printJSON(["settled": report.settled, "refused": report.refused, "retries": report.retries, "left": report.left,
                       "error": report.lastError ?? NSNull(), "orders_closed": reconciled.count - refunded.count - waiting,
                       "orders_refunded": refunded.map { ["order": $0[0], "payment": $0[1], "refund": $0[2]] }, "orders_waiting": waiting,
                       "sales_reversed": reversed.map { ["sale": $0[0], "refund": $0[1]] }, "sales_voided": voided,
                       "sales_waiting": sales.count - reversed.count - voided,
                       "debts": report.debts.map { ["payment": $0.payment, "amount": $0.amount.decimalString, "currency": $0.amount.currency.code] }])
        } else {
            print("\(report.settled) settled, \(report.refused) refused by the ledger, \(report.left) still waiting")
            for d in report.debts {
                print("payment \(d.payment): \(d.amount) of it was more than the customer's allowance and wallet held (spent offline "
                      + "at more than one terminal); you are paid in full, and the ledger holds it as the customer's debt")
            }
            for r in refunded { print("order \(r[0]) was paid (\(r[1])) after the terminal gave up: refunded as \(r[2])") }
            for r in reversed { print("sale \(r[0]) was charged but never answered: refunded as \(r[1])") }
            if voided > 0 { print("\(voided) unanswered sales never reached the ledger: declined") }
        }
        if report.left > 0 { throw Failure("the ledger could not be reached: \(report.lastError ?? "?"); \(report.left) payments wait") }
        if waiting > 0 { throw Failure("\(waiting) orders could not be settled with the ledger yet: run it again") }
    }
}
