import BankRail
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Ledger
import LedgerServer
import LedgerSQLite
import Payments
import Synchronization
import Terminal
import Testing

/// The ledger server as its own process (`qrpos ledger serve`, on a free loopback port) over a
/// real SQLite ledger that this process sets up and reads, called by the terminal's real HTTP
/// client. (In this process its handlers would share the test runner's cooperative threads with
/// every other test, and starve under the full suite.)
final class ServerRig: @unchecked Sendable {
    let ledger: SQLiteLedger
    let ops: WalletOperations
    let issuer: OfflineIssuerKey
    let phone = OfflineDeviceKey()
    let terminalKey = TerminalKey()
    /// The bank the server takes callbacks from (`--banks`), the wallet's linked bank.
    let bankKey = OfflineDeviceKey()
    /// Another registered bank, which is not the wallet's.
    let otherBankKey = OfflineDeviceKey()
    let merchant: Merchant
    let otherMerchant: Merchant
    let wallet: Account
    let certificate: OfflineCertificate
    let journal: TerminalJournal
    let port: Int
    private let server: ServerProcess
    let now = UnixTime.nowMillis()

    /// The `qrpos` executable beside the test bundle.
    static let executable: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("qrpos")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/qrpos")
    }()

    /// A rig whose server logs to `log` (its stderr), when given.
    init(log: FileHandle? = nil) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ledger = try SQLiteLedger(path: dir.appendingPathComponent("ledger.sqlite").path)
        ops = WalletOperations(store: ledger)
        // The server's issuer key, where `qrpos ledger serve` finds it.
        let seed = (0..<32).map { _ in UInt8.random(in: 0...255) }
        try Data(seed).write(to: dir.appendingPathComponent("offline-issuer-key"))
        issuer = try OfflineIssuerKey(seed: seed)
        merchant = try ledger.createMerchant(name: "Tea", city: "Hangzhou", categoryCode: "5812", countryCode: "CN", currency: .CNY, now: now)
        otherMerchant = try ledger.createMerchant(name: "Noodles", city: "Hangzhou", categoryCode: "5812", countryCode: "CN", currency: .CNY, now: now)
        wallet = try ledger.createWallet(name: "Wu", phone: nil, currency: .CNY, now: now)
        _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: wallet.id, amount: Money(minorUnits: 50_000, currency: .CNY), source: .cash, now: now)
        let serial = UUIDv7.make()
        _ = try ops.reserveOfflineAllowance(serial: serial, wallet: wallet.id, amount: Money(minorUnits: 20_000, currency: .CNY),
                                           validUntil: now + 86_400_000, now: now)
        certificate = try OfflineCertificate.issue(serial: serial, walletID: wallet.id, device: phone.publicKey,
                                                   allowance: Money(minorUnits: 20_000, currency: .CNY), validFrom: now - 1,
                                                   validUntil: now + 86_400_000, issuer: issuer)
        journal = try TerminalJournal(path: dir.appendingPathComponent("journal.sqlite").path)
        let terminals = [TerminalRegistration(id: "T1", merchant: merchant.id, publicKey: terminalKey.publicKey.hex)]
        try JSONEncoder().encode(terminals).write(to: dir.appendingPathComponent("terminals.json"))
        // The wallet's phone signs its own requests with its device key.
        try JSONEncoder().encode([WalletRegistration(id: wallet.id, publicKey: phone.publicKey.hex, bank: "bank-1")])
            .write(to: dir.appendingPathComponent("wallets.json"))
        try JSONEncoder().encode([WalletRegistration(id: "bank-1", publicKey: bankKey.publicKey.hex),
                                  WalletRegistration(id: "bank-2", publicKey: otherBankKey.publicKey.hex)]).write(to: dir.appendingPathComponent("banks.json"))
        server = try ServerProcess(executable: Self.executable, home: dir.path, terminals: dir.appendingPathComponent("terminals.json").path, port: 0,
                                   wallets: dir.appendingPathComponent("wallets.json").path,
                                   extra: ["--banks", dir.appendingPathComponent("banks.json").path], stderr: log)
        port = server.port
    }

    func stop() { server.stop() }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func settler(terminal: String = "T1", key: TerminalKey? = nil) -> LedgerClient {
        LedgerClient(server: url, terminalID: terminal, key: key ?? terminalKey, timeoutSeconds: 5)
    }

    /// Takes an offline payment at the terminal (the journal), as a checkout would; the code
    /// made under `certificate` (the rig's) with `cryptogramKey` when given.
    func take(_ minor: Int64, counter: UInt32, merchant: String? = nil, certificate: OfflineCertificate? = nil,
              cryptogramKey: [UInt8]? = nil) throws -> String {
        let token = try OfflineToken.make(certificate: certificate ?? self.certificate, device: phone, counter: counter,
                                          time: UnixTime.nowMillis(), cryptogramKey: cryptogramKey)
        let id = UUIDv7.make()
        let result = try journal.approveOffline(id: id, terminal: "T1", merchant: merchant ?? self.merchant.id,
                                                amount: Money(minorUnits: minor, currency: .CNY), token: token,
                                                issuers: [issuer.publicKey], policy: .standard(for: .CNY), now: UnixTime.nowMillis())
        guard case .success = result else { throw CheckoutError("not approved: \(result)") }
        return id
    }
}

@Suite("Ledger server (HTTP)", .serialized) struct LedgerServerTests {
    @Test("a terminal forwards its offline payments over HTTP; a repeat is already settled; the audit passes")
    func syncOverHTTP() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let ids = try (1...3).map { try rig.take(2_000, counter: UInt32($0)) }
        let report = try Forwarder(journal: rig.journal, settler: rig.settler()).forwardAll(sleep: { _ in })
        #expect(report.settled == 3 && report.left == 0)
        #expect(try rig.ledger.account(rig.merchant.id)?.balance.minorUnits == 6_000)
        // The same entries sent again (an answer lost on the way): already settled, nothing moves.
        let again = try rig.settler().settle(try ids.compactMap { try rig.journal.entry($0)?.forwarded })
        #expect(again.values.allSatisfy { if case .settled(let s) = $0 { s.replayed } else { false } })
        #expect(try rig.ledger.account(rig.merchant.id)?.balance.minorUnits == 6_000)
        #expect(try rig.ledger.audit().passed)
    }

    @Test("requests that are unsigned, from an unknown terminal, with a wrong key, replayed or stale are refused with 401")
    func authentication() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let body = Array(try JSONEncoder().encode(SyncWire.Request(entries: [])))
        func status(_ headers: [String: String], body: [UInt8] = body, path: String = "/v1/sync") throws -> Int {
            var request = URLRequest(url: URL(string: path, relativeTo: rig.url)!)
            request.httpMethod = "POST"
            request.httpBody = Data(body)
            for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
            return try blockingStatus(request)
        }
        let now = UnixTime.nowMillis()
        let good = try RequestSignature.headers(terminal: "T1", key: rig.terminalKey, method: "POST", path: "/v1/sync", body: body, time: now)
        #expect(try status([:]) == 401)
        #expect(try status(good) == 200)
        #expect(try status(good) == 401, "the same nonce again")
        #expect(try status(try RequestSignature.headers(terminal: "T2", key: rig.terminalKey, method: "POST", path: "/v1/sync", body: body, time: now)) == 401)
        #expect(try status(try RequestSignature.headers(terminal: "T1", key: TerminalKey(), method: "POST", path: "/v1/sync", body: body, time: now)) == 401)
        #expect(try status(try RequestSignature.headers(terminal: "T1", key: rig.terminalKey, method: "POST", path: "/v1/sync", body: body, time: now - 600_000)) == 401)
        // Signed for one body, sent with another.
        let other = Array(try JSONEncoder().encode(SyncWire.Request(entries: [SyncWire.Entry(try #require(try rig.journal.entry(try rig.take(100, counter: 9))?.forwarded))])))
        #expect(try status(try RequestSignature.headers(terminal: "T1", key: rig.terminalKey, method: "POST", path: "/v1/sync", body: body, time: now), body: other) == 401)
        #expect(try rig.ledger.account(rig.merchant.id)?.balance.minorUnits == 0)
    }

    @Test("every rejection is logged with its reason: unsigned, replayed, another's account, no such order or path, a bad body, a refused entry")
    func rejectionsAreLogged() throws {
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-server-log-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        let rig = try ServerRig(log: log)
        func call(_ method: String, _ path: String, body: [UInt8] = [], signed: Bool = true,
                  headers: [String: String]? = nil) throws -> (status: Int, headers: [String: String]) {
            var request = URLRequest(url: URL(string: path, relativeTo: rig.url)!)
            request.httpMethod = method
            if !body.isEmpty { request.httpBody = Data(body) }
            let sent = try headers ?? (signed ? RequestSignature.headers(terminal: "T1", key: rig.terminalKey, method: method, path: path,
                                                                         body: body, time: UnixTime.nowMillis()) : [:])
            for (k, v) in sent { request.setValue(v, forHTTPHeaderField: k) }
            return (try blockingStatus(request), sent)
        }
        #expect(try call("GET", "/v1/terminal", signed: false).status == 401)
        let once = try call("GET", "/v1/terminal")
        #expect(once.status == 200)
        #expect(try call("GET", "/v1/terminal", headers: once.headers).status == 401)
        #expect(try call("GET", "/v1/accounts/\(rig.merchant.id)").status == 200)
        #expect(try call("GET", "/v1/accounts/\(rig.wallet.id)").status == 403, "a terminal reads no wallet's balance")
        #expect(try call("GET", "/v1/accounts/\(rig.otherMerchant.id)").status == 403, "nor another merchant's")
        #expect(try call("GET", "/v1/orders/no-such-order").status == 404)
        #expect(try call("GET", "/v1/no-such-route").status == 404)
        #expect(try call("POST", "/v1/sync", body: Array("not json".utf8)).status == 400)
        let entry = SyncWire.Entry(try #require(try rig.journal.entry(try rig.take(100, counter: 3))?.forwarded))
        var json = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(SyncWire.Request(entries: [entry]))) as? [String: Any])
        var entries = try #require(json["entries"] as? [[String: Any]])
        entries[0]["currency"] = "ZZZ"
        json["entries"] = entries
        #expect(try call("POST", "/v1/sync", body: Array(try JSONSerialization.data(withJSONObject: json))).status == 200)
        rig.stop()
        try log.close()
        let logged = try String(contentsOf: logURL, encoding: .utf8)
        for reason in ["unsigned request", "replayed request", "may read only its merchant's account, not \(rig.wallet.id)",
                       "not \(rig.otherMerchant.id)", "no order no-such-order", "path=/v1/no-such-route", "not a sync batch",
                       "unknown currency or a non-positive amount"] {
            #expect(logged.contains(reason), "no log line says '\(reason)':\n\(logged)")
        }
        #expect(logged.components(separatedBy: "rejected a request").count - 1 >= 7)
    }

    @Test("a terminal acts only for its own merchant")
    func ownMerchantOnly() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let id = try rig.take(1_000, counter: 1, merchant: rig.otherMerchant.id)
        let answers = try rig.settler().settle([try #require(try rig.journal.entry(id)?.forwarded)])
        guard case .refused(let reason) = answers[id] else { Issue.record("settled for another merchant: \(answers)"); return }
        #expect(reason.contains("does not act for merchant"))
        #expect(try rig.ledger.account(rig.otherMerchant.id)?.balance.minorUnits == 0)
    }

    @Test("online authorization: the terminal's own merchant only, its configuration, one charge per sale id")
    func authorizeOnline() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let client = rig.settler()
        let config = try client.configuration()
        #expect(config.merchant.merchant == rig.merchant && config.issuerKeys == [rig.issuer.publicKey.hex])
        #expect(abs(config.time - UnixTime.nowMillis()) < 5_000)
        let code = try OfflineToken.make(certificate: rig.certificate, device: rig.phone, counter: 5, time: UnixTime.nowMillis())
        let amount = Money(minorUnits: 1_500, currency: .CNY)
        #expect(throws: LedgerClient.Failed.self) {
            try client.authorize(id: UUIDv7.make(), merchant: rig.otherMerchant.id, amount: amount, code: code.text)
        }
        let sale = UUIDv7.make()
        #expect(try client.authorize(id: sale, merchant: rig.merchant.id, amount: amount, code: code.text) == .approved(wallet: rig.wallet.id))
        #expect(try client.authorize(id: sale, merchant: rig.merchant.id, amount: amount, code: code.text) == .approved(wallet: rig.wallet.id))
        #expect(try rig.ledger.account(rig.merchant.id)?.balance == amount, "asked twice, charged once")
        guard case .declined(let reason) = try client.authorize(id: UUIDv7.make(), merchant: rig.merchant.id, amount: amount, code: code.text) else {
            Issue.record("a code used once was taken again")
            return
        }
        #expect(reason.contains("already used"))
        // A forged code (this wallet's certificate, re-issued by a key that is not the ledger's) is declined, not charged.
        let fake = try OfflineCertificate.issue(serial: rig.certificate.serial, walletID: rig.wallet.id, device: rig.phone.publicKey,
                                                allowance: rig.certificate.allowance, validFrom: rig.certificate.validFrom,
                                                validUntil: rig.certificate.validUntil, issuer: OfflineIssuerKey())
        let forged = try OfflineToken.make(certificate: fake, device: rig.phone, counter: 6, time: UnixTime.nowMillis())
        #expect(try client.authorize(id: UUIDv7.make(), merchant: rig.merchant.id, amount: amount, code: forged.text) != .approved(wallet: rig.wallet.id))
        #expect(try rig.ledger.audit().passed)
    }

    /// The phone is given its certificate's cryptogram key over HTTP, sealed to a key of its
    /// own; the server then takes each forwarded code whose cryptogram matches without checking
    /// its Ed25519 signature, and checks the signature of any other: a code whose cryptogram is
    /// wrong but whose signature is right (what the terminal took) is settled, not refused.
    @Test("a certificate comes with its cryptogram key sealed; forwarded codes settle by cryptogram, or else by signature")
    func cryptogramsOverHTTP() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let phone = LedgerClient(server: rig.url, wallet: rig.wallet.id, key: rig.phone, timeoutSeconds: 5)
        let serial = UUIDv7.make(), receiver = CryptogramKeyReceiver()
        let asked = CertificateRequestWire(serial: serial, deviceKey: rig.phone.publicKey.hex, allowance: 5_000, currency: "CNY",
                                           validUntil: UnixTime.nowMillis() + 3_600_000, agreementKey: Hex.string(receiver.agreementKey))
        let answer = try phone.requestCertificate(asked)
        let certificate = try OfflineCertificate(bytes: try #require(answer.certificate.flatMap(Base45.decode)))
        let key = try receiver.open(try #require(answer.sealedCryptogramKey.flatMap(Hex.bytes)), for: certificate)
        #expect(answer.status == "issued" && key == rig.issuer.cryptogramKey(for: certificate))
        let again = try phone.requestCertificate(asked)
        let keyAgain = try receiver.open(try #require(again.sealedCryptogramKey.flatMap(Hex.bytes)), for: certificate)
        #expect(again.certificate == answer.certificate && keyAgain == key, "asked again: the same certificate and key")
        let unsealed = try phone.requestCertificate(CertificateRequestWire(serial: UUIDv7.make(), deviceKey: rig.phone.publicKey.hex, allowance: 1_000,
                                                                           currency: "CNY", validUntil: UnixTime.nowMillis() + 3_600_000))
        #expect(unsealed.status == "issued" && unsealed.sealedCryptogramKey == nil, "no agreement key, no cryptogram key")
        let badAgreement = CertificateRequestWire(serial: UUIDv7.make(), deviceKey: rig.phone.publicKey.hex, allowance: 1_000, currency: "CNY",
                                                  validUntil: UnixTime.nowMillis() + 3_600_000, agreementKey: "zz")
        #expect(throws: LedgerClient.Failed.self) { try phone.requestCertificate(badAgreement) }

        // Through the terminal: a right cryptogram, and a wrong one under a right signature.
        let good = try rig.take(1_200, counter: 1, certificate: certificate, cryptogramKey: key)
        var wrongKey = key
        wrongKey[0] ^= 1
        let wrongCryptogram = try rig.take(800, counter: 2, certificate: certificate, cryptogramKey: wrongKey)
        // Straight to the server, as a terminal that checked nothing would send them: a code
        // whose cryptogram is right but signature not (the ledger's key vouches for it), and one
        // with neither.
        func forwarded(_ counter: UInt32, _ minor: Int64, cryptogramKey: [UInt8], damageSignature: Bool) throws -> ForwardedPayment {
            let token = try OfflineToken.make(certificate: certificate, device: rig.phone, counter: counter, time: UnixTime.nowMillis(),
                                              cryptogramKey: cryptogramKey)
            var bytes = token.bytes
            if damageSignature { bytes[bytes.count - OfflineToken.cryptogramLength - 1] ^= 1 }
            let text = OfflineToken.prefixWithCryptogram + Base45.encode(bytes)
            return ForwardedPayment(id: UUIDv7.make(), terminal: "T1", merchant: rig.merchant.id, amount: Money(minorUnits: minor, currency: .CNY),
                                    token: text, wallet: rig.wallet.id, certificate: certificate.serial, counter: Int64(counter),
                                    createdAt: UnixTime.nowMillis())
        }
        let vouched = try forwarded(3, 300, cryptogramKey: key, damageSignature: true)
        let forged = try forwarded(4, 400, cryptogramKey: wrongKey, damageSignature: true)
        let report = try Forwarder(journal: rig.journal, settler: rig.settler()).forwardAll(sleep: { _ in })
        #expect(report.settled == 2 && report.refused == 0 && report.left == 0)
        let direct = try rig.settler().settle([vouched, forged])
        guard case .settled = direct[vouched.id], case .refused(let why) = direct[forged.id] else {
            Issue.record("\(direct)")
            return
        }
        #expect(why.contains("not signed by the wallet's device"))
        #expect(try rig.ledger.transfer(good) != nil && rig.ledger.transfer(wrongCryptogram) != nil && rig.ledger.transfer(forged.id) == nil)
        #expect(try rig.ledger.account(rig.merchant.id)?.balance.minorUnits == 2_300)
        #expect(try rig.ledger.audit().passed)
    }

    @Test("a phone moves its wallet's money: a transfer by id or phone, a withdrawal and a deposit held for the bank; each once; declines with reasons")
    func walletMoves() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let li = try rig.ledger.createWallet(name: "Li", phone: "+8613800000001", currency: .CNY, now: rig.now)
        let phone = LedgerClient(server: rig.url, wallet: rig.wallet.id, key: rig.phone, timeoutSeconds: 5)
        let send = WalletMoveWire(id: UUIDv7.make(), amount: 2_000, currency: "CNY", to: li.id)
        #expect(try phone.move("transfers", send).status == "approved")
        #expect(try phone.move("transfers", send).replayed == true, "the same id again is the first answer")
        #expect(try phone.move("transfers", WalletMoveWire(id: UUIDv7.make(), amount: 500, currency: "CNY", toPhone: "+8613800000001")).status == "approved")
        let tooMuch = try phone.move("transfers", WalletMoveWire(id: UUIDv7.make(), amount: 10_000_000, currency: "CNY", to: li.id))
        #expect(tooMuch.status == "declined" && tooMuch.decline != nil)
        #expect(try phone.move("withdrawals", WalletMoveWire(id: UUIDv7.make(), amount: 1_000, currency: "CNY")).status == "held")
        #expect(try phone.move("deposits", WalletMoveWire(id: UUIDv7.make(), amount: 3_000, currency: "CNY")).status == "held")
        #expect(try rig.ledger.account(li.id)?.balance.minorUnits == 2_500)
        // 50,000 less 20,000 reserved for offline, 2,500 sent, 1,000 held for the bank.
        #expect(try rig.ledger.account(rig.wallet.id)?.available.minorUnits == 26_500)
        #expect(try rig.ledger.audit().passed)
    }

    @Test("a phone pays a bill and sends money abroad at a quote over HTTP: the quote taken in time, an edited one refused, once each")
    func billsAndExchanges() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let phone = LedgerClient(server: rig.url, wallet: rig.wallet.id, key: rig.phone, timeoutSeconds: 5)
        let bill = WalletMoveWire(id: UUIDv7.make(), amount: 1_200, currency: "CNY", to: "biller-power", memo: "INV-9")
        #expect(try phone.move("bills", bill).status == "approved")
        #expect(try phone.move("bills", bill).replayed == true)
        #expect(try rig.ledger.account("biller-power")?.balance.minorUnits == 1_200)
        #expect(throws: LedgerClient.Failed.self, "a bill names its biller") {
            try phone.move("bills", WalletMoveWire(id: UUIDv7.make(), amount: 100, currency: "CNY"))
        }
        // A biller is named biller-…: a bill cannot make (or pay into) the ledger's own accounts.
        for reserved in [WalletOperations.offlineDebtAccount(rig.wallet.id), "fx-USD", "settlement-EUR", rig.merchant.id] {
            #expect(throws: LedgerClient.Failed.self, "\(reserved)") {
                try phone.move("bills", WalletMoveWire(id: UUIDv7.make(), amount: 100, currency: "CNY", to: reserved))
            }
            #expect(try rig.ledger.account(reserved)?.kind != .biller)
        }
        // Someone abroad with a dollar wallet.
        let abroad = try rig.ledger.createWallet(name: "Lee", phone: nil, currency: .USD, now: rig.now)
        let quote = try phone.quote(QuoteRequestWire(amount: 7_150, currency: "CNY", toCurrency: "USD"))
        #expect(quote.target == 1_000 && quote.fee == 22 && quote.expiresAt > UnixTime.nowMillis())
        var edited = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(quote)) as? [String: Any])
        edited["target"] = 1_100
        let forged = try JSONDecoder().decode(QuoteWire.self, from: try JSONSerialization.data(withJSONObject: edited))
        #expect(try phone.exchange(ExchangeWire(id: UUIDv7.make(), to: abroad.id, quote: forged)).decline == Decline.quoteInvalid.rawValue)
        let sent = ExchangeWire(id: UUIDv7.make(), to: abroad.id, quote: quote)
        #expect(try phone.exchange(sent).status == "approved")
        #expect(try phone.exchange(sent).replayed == true)
        #expect(try rig.ledger.account(abroad.id)?.balance.minorUnits == 1_000)
        // 50,000 less 20,000 reserved for offline, the bill, and 71.50 with its fee.
        #expect(try rig.ledger.account(rig.wallet.id)?.available.minorUnits == 30_000 - 1_200 - 7_150 - 22)
        #expect(throws: LedgerClient.Failed.self, "no rate between these") {
            try phone.quote(QuoteRequestWire(amount: 100, currency: "CNY", toCurrency: "JPY"))
        }
        #expect(try rig.ledger.audit().passed)
    }

    @Test("a bank calls back over signed HTTP, twice and out of order as rails do: the phone's held deposits and withdrawals end as the bank decided, each once")
    func bankCallbacksOverHTTP() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let phone = LedgerClient(server: rig.url, wallet: rig.wallet.id, key: rig.phone, timeoutSeconds: 5)
        let bank = LedgerClient(server: rig.url, bank: "bank-1", key: rig.bankKey, timeoutSeconds: 5)
        var rail = SimulatedBankRail(seed: 9, failurePerMille: 300, duplicatePerMille: 600)
        let before = try #require(try rig.ledger.account(rig.wallet.id))
        var clock = rig.now
        var references: [(String, SimulatedBankRail.Direction, Int64)] = []
        for i in 0..<12 {
            let id = UUIDv7.make(), amount = Int64(100 + i * 10), deposit = i % 3 != 0
            let held = try phone.move(deposit ? "deposits" : "withdrawals", WalletMoveWire(id: id, amount: amount, currency: "CNY"))
            #expect(held.status == "held", "\(held)")
            rail.submit(reference: id, direction: deposit ? .deposit : .withdrawal, amount: Money(minorUnits: amount, currency: .CNY), now: clock)
            references.append((id, deposit ? .deposit : .withdrawal, amount))
            clock += 3_600_000
        }
        // Another registered bank cannot answer this wallet's holds: to it they do not exist.
        let otherBank = LedgerClient(server: rig.url, bank: "bank-2", key: rig.otherBankKey, timeoutSeconds: 5)
        let unknown = try otherBank.bankCallback(BankCallbackWire(reference: "no-such-hold", outcome: "settled"))
        for (id, _, _) in references.prefix(3) {
            let answer = try otherBank.bankCallback(BankCallbackWire(reference: id, outcome: "settled"))
            #expect(answer.status == "refused" && answer.reason != nil && answer.reason == unknown.reason, "\(answer)")
            #expect(try rig.ledger.pendingStatus(id) == .pending)
        }
        #expect(try rig.ledger.account(rig.wallet.id)?.balance == before.balance)
        var applied = 0, replayed = 0
        for callback in rail.deliver(upTo: clock + 30 * 86_400_000) {
            let answer = try bank.bankCallback(BankCallbackWire(reference: callback.reference, outcome: callback.settled ? "settled" : "returned"))
            #expect(answer.status == "applied", "\(callback) \(answer)")
            if answer.replayed == true { replayed += 1 } else { applied += 1 }
        }
        #expect(applied == 12 && replayed > 0, "each hold decided once, the repeats changing nothing: \(applied) applied, \(replayed) repeated")
        var expected = before.balance.minorUnits
        for (id, direction, amount) in references where rail.decided[id]!.settled {
            expected += direction == .deposit ? amount : -amount
            #expect(try rig.ledger.pendingStatus(id).map { if case .posted = $0 { true } else { false } } == true)
        }
        #expect(try rig.ledger.account(rig.wallet.id)?.balance.minorUnits == expected)
        // A contradicting answer is refused; an unknown reference too; only a registered bank may call.
        let first = try #require(references.first { rail.decided[$0.0]!.settled })
        #expect(try bank.bankCallback(BankCallbackWire(reference: first.0, outcome: "returned")).status == "refused")
        #expect(try bank.bankCallback(BankCallbackWire(reference: "no-such-hold", outcome: "settled")).status == "refused")
        let impostor = LedgerClient(server: rig.url, bank: rig.wallet.id, key: rig.phone, timeoutSeconds: 5)
        #expect(throws: LedgerClient.Failed.self) { try impostor.bankCallback(BankCallbackWire(reference: first.0, outcome: "returned")) }
        #expect(throws: LedgerClient.Failed.self) { try bank.bankCallback(BankCallbackWire(reference: first.0, outcome: "maybe")) }
        #expect(try rig.ledger.account(rig.wallet.id)?.balance.minorUnits == expected)
        #expect(try rig.ledger.audit().passed)
    }

    /// The server against its own OpenAPI document (assets/openapi.json): every path and method
    /// it lists answers, with a status the document lists for it, and a JSON body holding the
    /// properties that status's schema requires.
    @Test("the server answers as assets/openapi.json says")
    func conformsToOpenAPI() throws {
        let rig = try ServerRig()
        defer { rig.stop() }
        let docURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("assets/openapi.json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: docURL)) as? [String: Any])
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let settled = try rig.take(500, counter: 1)
        let syncBody = Array(try JSONEncoder().encode(SyncWire.Request(entries: [SyncWire.Entry(try #require(try rig.journal.entry(settled)?.forwarded))])))
        let code = try OfflineToken.make(certificate: rig.certificate, device: rig.phone, counter: 99, time: UnixTime.nowMillis())
        let authorizeBody = Array(try JSONEncoder().encode(AuthorizeWire.Request(id: UUIDv7.make(), merchant: rig.merchant.id, amount: 100,
                                                                                 currency: "CNY", code: code.text)))
        // A paid order (for its events, which end once it is paid, and a refund), and an open one to cancel.
        let now = UnixTime.nowMillis()
        let paid = try rig.ledger.createOrder(id: "paid-1", merchant: rig.merchant.id, amount: Money(minorUnits: 300, currency: .CNY),
                                              terminalID: "T1", expiresAt: now + 60_000, now: now)
        let payment = try #require(try rig.ledger.payOrder(requestID: UUIDv7.make(), orderID: paid.id, wallet: rig.wallet.id, merchant: rig.merchant.id,
                                                           amount: paid.amount, now: now).transfer)
        _ = try rig.ledger.createOrder(id: "open-1", merchant: rig.merchant.id, amount: Money(minorUnits: 300, currency: .CNY),
                                       terminalID: "T1", expiresAt: now + 60_000, now: now)
        let orderBody = Array(try JSONEncoder().encode(NewOrderWire(id: "new-1", amount: 250, currency: "CNY", expiresAt: now + 60_000)))
        _ = try rig.ledger.createOrder(id: "open-2", merchant: rig.merchant.id, amount: Money(minorUnits: 300, currency: .CNY),
                                       terminalID: "T1", expiresAt: now + 60_000, now: now)
        let certificateBody = Array(try JSONEncoder().encode(CertificateRequestWire(serial: UUIDv7.make(), deviceKey: rig.phone.publicKey.hex,
                                                                                     allowance: 1_000, currency: "CNY", validUntil: now + 3_600_000,
                                                                                     agreementKey: Hex.string(CryptogramKeyReceiver().agreementKey))))
        let paymentBody = Array(try JSONEncoder().encode(WalletPaymentWire(id: UUIDv7.make(), order: "open-2", merchant: rig.merchant.id,
                                                                           amount: 300, currency: "CNY")))
        let refundBody = Array(try JSONEncoder().encode(RefundWire(id: UUIDv7.make(), payment: payment.id, amount: 100, currency: "CNY")))
        var ids = ["/v1/accounts/{id}": rig.merchant.id, "/v1/orders/{id}": paid.id, "/v1/orders/{id}/events": paid.id,
                   "/v1/orders/{id}/cancel": "open-1", "/v1/payments/{id}": payment.id]
        for template in paths.keys where template.hasPrefix("/v1/wallets/") { ids[template] = rig.wallet.id }
        let other = try rig.ledger.createWallet(name: "Li", phone: nil, currency: .CNY, now: now)
        func move(_ to: String?) throws -> [UInt8] {
            Array(try JSONEncoder().encode(WalletMoveWire(id: UUIDv7.make(), amount: 100, currency: "CNY", to: to)))
        }
        let dollars = try rig.ledger.createWallet(name: "Wu USD", phone: nil, currency: .USD, now: now)
        let quote = try rig.ops.quote(Money(minorUnits: 1_000, currency: .CNY), into: .USD, now: UnixTime.nowMillis())
        let bodies = ["/v1/authorize": authorizeBody, "/v1/sync": syncBody, "/v1/orders": orderBody, "/v1/refunds": refundBody,
                      "/v1/wallets/{id}/certificates": certificateBody, "/v1/wallets/{id}/payments": paymentBody,
                      "/v1/wallets/{id}/transfers": try move(other.id), "/v1/wallets/{id}/withdrawals": try move(nil),
                      "/v1/wallets/{id}/deposits": try move(nil), "/v1/wallets/{id}/bills": try move("biller-power"),
                      "/v1/wallets/{id}/quotes": Array(try JSONEncoder().encode(QuoteRequestWire(amount: 1_000, currency: "CNY", toCurrency: "USD"))),
                      "/v1/wallets/{id}/exchanges": Array(try JSONEncoder().encode(ExchangeWire(id: UUIDv7.make(), to: dollars.id, quote: QuoteWire(quote)))),
                      "/v1/bank/callbacks": Array(try JSONEncoder().encode(BankCallbackWire(reference: "no-such-hold", outcome: "settled")))]
        var checked = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for (method, spec) in operations {
                let operation = try #require(spec as? [String: Any])
                let responses = try #require(operation["responses"] as? [String: Any])
                let path = template.replacingOccurrences(of: "{id}", with: ids[template] ?? "?")
                let body: [UInt8] = method != "post" ? [] : bodies[template] ?? []
                var calls: [(signed: Bool, path: String)] = [(true, path)]
                if operation["security"] != nil { calls.append((false, path)) }
                if template.contains("{id}") { calls.append((true, template.replacingOccurrences(of: "{id}", with: "acc_none"))) }
                for call in calls {
                    var request = URLRequest(url: URL(string: call.path, relativeTo: rig.url)!)
                    request.httpMethod = method.uppercased()
                    if !body.isEmpty { request.httpBody = Data(body) }
                    if call.signed {
                        // Wallet routes are signed by the wallet's phone, a bank's callback by the bank, the rest by the terminal.
                        let (principal, id, key) = template.hasPrefix("/v1/wallets/") ? (RequestSignature.walletHeader, rig.wallet.id, rig.phone)
                            : template.hasPrefix("/v1/bank/") ? (RequestSignature.bankHeader, "bank-1", rig.bankKey)
                            : (RequestSignature.terminalHeader, "T1", rig.terminalKey)
                        for (k, v) in try RequestSignature.headers(principal: principal, id: id, key: key,
                                                                    method: method.uppercased(), path: call.path, body: body, time: UnixTime.nowMillis()) {
                            request.setValue(v, forHTTPHeaderField: k)
                        }
                    }
                    let (status, data) = try blockingCall(request)
                    let documented = try #require(responses["\(status)"] as? [String: Any], "\(method) \(call.path) answered \(status), not documented")
                    let contents = documented["content"] as? [String: Any]
                    // (A route that offers both answers JSON unless asked for the stream.)
                    let streamed = status == 200 && contents?["text/event-stream"] != nil && contents?["application/json"] == nil
                    let content = contents?[streamed ? "text/event-stream" : "application/json"] as? [String: Any]
                    let ref = ((content?["schema"] as? [String: Any])?["$ref"] as? String)?.split(separator: "/").last.map(String.init)
                    let schema = try #require(ref.flatMap { schemas[$0] as? [String: Any] }, "\(method) \(template) \(status) has no schema")
                    // An event stream's schema is each event's data.
                    let json = streamed
                        ? Data(try #require(String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("data:") }).dropFirst(5).utf8)
                        : data
                    let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any], "\(method) \(call.path): not a JSON object")
                    for key in schema["required"] as? [String] ?? [] {
                        #expect(object[key] != nil, "\(method) \(call.path) \(status) lacks \(key)")
                    }
                    for problem in openAPIMismatches(object, schema, schemas: schemas, at: "\(method) \(call.path) \(status)") {
                        Issue.record("\(problem)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked >= 60)
    }
}

/// Where `value` does not have the types `schema` gives its properties (and their items and
/// referenced schemas, all the way down): string, integer, boolean, array or object.
func openAPIMismatches(_ value: Any, _ schema: [String: Any], schemas: [String: Any], at path: String) -> [String] {
    var schema = schema
    if let ref = (schema["$ref"] as? String)?.split(separator: "/").last.map(String.init) {
        guard let referenced = schemas[ref] as? [String: Any] else { return ["\(path): no schema \(ref)"] }
        schema = referenced
    }
    // JSONSerialization gives true and false as NSNumbers of C type char, numbers as others.
    let isBool = (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    switch schema["type"] as? String {
    case "string":
        return value is String ? [] : ["\(path): \(value) is not a string"]
    case "integer":
        guard let number = value as? NSNumber, !isBool, number.doubleValue == number.doubleValue.rounded() else { return ["\(path): \(value) is not an integer"] }
        return []
    case "boolean":
        return isBool ? [] : ["\(path): \(value) is not a boolean"]
    case "array":
        guard let items = value as? [Any] else { return ["\(path): \(value) is not an array"] }
        guard let itemSchema = schema["items"] as? [String: Any] else { return [] }
        return items.enumerated().flatMap { openAPIMismatches($0.element, itemSchema, schemas: schemas, at: "\(path)[\($0.offset)]") }
    case "object", nil:
        guard let object = value as? [String: Any] else {
            return schema["type"] == nil ? [] : ["\(path): \(value) is not an object"]
        }
        let properties = schema["properties"] as? [String: Any] ?? [:]
        // A schema that lists its properties lists them all, unless it says it is a map.
        let open = properties.isEmpty || schema["additionalProperties"] != nil
        return object.sorted { $0.key < $1.key }.flatMap { key, member -> [String] in
            guard let property = properties[key] as? [String: Any] else { return open ? [] : ["\(path).\(key): not in the document"] }
            return openAPIMismatches(member, property, schemas: schemas, at: "\(path).\(key)")
        }
    default:
        return []
    }
}

func blockingStatus(_ request: URLRequest) throws -> Int { try blockingCall(request).0 }

func blockingCall(_ request: URLRequest) throws -> (Int, Data) {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<(Int, Data)?>(nil)
    URLSession.shared.dataTask(with: request) { data, response, _ in
        result.withLock { $0 = ((response as? HTTPURLResponse)?.statusCode ?? -1, data ?? Data()) }
        done.signal()
    }.resume()
    _ = done.wait(timeout: .now() + 10)
    return try #require(result.withLock { $0 })
}
