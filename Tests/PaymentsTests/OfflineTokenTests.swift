import Foundation
import Payments
import Testing

@Suite("Base45 (RFC 9285)") struct Base45Tests {
    @Test("the RFC's examples encode and decode")
    func vectors() {
        let vectors = [("AB", "BB8"), ("Hello!!", "%69 VD92EX0"), ("base-45", "UJCLQE7W581"), ("ietf!", "QED8WEX0")]
        for (plain, encoded) in vectors {
            #expect(Base45.encode(Array(plain.utf8)) == encoded)
            #expect(Base45.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test("text that no bytes encode to is refused")
    func refusals() {
        #expect(Base45.decode(":::") == nil, "91124 does not fit two bytes")
        #expect(Base45.decode("FGW") == [0xFF, 0xFF], "65535 fits")
        #expect(Base45.decode("GGW") == nil, "65536 does not")
        #expect(Base45.decode("::") == nil, "2024 does not fit one byte")
        #expect(Base45.decode("A") == nil, "a length of 3n+1")
        #expect(Base45.decode("ab8") == nil, "lower case is outside the alphabet")
        #expect(Base45.decode("") == [])
    }

    @Test("each character outside the alphabet is refused, wherever it stands")
    func everyOutsider() {
        let alphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".unicodeScalars)
        let outsiders = (0..<128).compactMap(Unicode.Scalar.init).filter { !alphabet.contains($0) } + ["é", "€"]
        #expect(outsiders.count == 128 - 45 + 2)
        for outsider in outsiders {
            for position in 0..<3 {
                var text = Array("BB8".unicodeScalars)
                text[position] = outsider
                #expect(Base45.decode(String(String.UnicodeScalarView(text))) == nil, "\(outsider) at \(position)")
            }
        }
    }

    @Test("any bytes survive the round trip")
    func roundTrip() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Base45.decode(Base45.encode(bytes)) == bytes)
        }
    }
}

@Suite("Offline tokens") struct OfflineTokenTests {
    let issuer = OfflineIssuerKey()
    let device = OfflineDeviceKey()
    let now: Int64 = 1_800_000_000_000
    let day: Int64 = 86_400_000
    let skew: Int64 = 300_000

    func certificate(allowance: Int64 = 50_000, from: Int64? = nil, until: Int64? = nil,
                     device: OfflineDeviceKey? = nil, issuer: OfflineIssuerKey? = nil) throws -> OfflineCertificate {
        try OfflineCertificate.issue(serial: UUIDv7.make(), walletID: "wal_0123456789abcdef", device: (device ?? self.device).publicKey,
                                     allowance: Money(minorUnits: allowance, currency: .CNY),
                                     validFrom: from ?? now - day, validUntil: until ?? now + 6 * day, issuer: issuer ?? self.issuer)
    }

    func reason(_ token: OfflineToken, at time: Int64? = nil, issuers: [OfflinePublicKey]? = nil) -> OfflineTokenError.Reason? {
        do {
            try token.verify(issuers: issuers ?? [issuer.publicKey], now: time ?? now, clockSkewMillis: skew)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("a token survives its text and verifies with the issuer's public key alone")
    func roundTrip() throws {
        let token = try OfflineToken.make(certificate: try certificate(), device: device, counter: 7, time: now - 1_000)
        #expect(token.text.hasPrefix(OfflineToken.prefix))
        #expect(token.text.utf8.count < 400, "fits a version-12 QR at level M")
        let parsed = try OfflineToken(parsing: token.text)
        #expect(parsed == token)
        #expect(parsed.counter == 7)
        #expect(parsed.certificate.allowance == Money(minorUnits: 50_000, currency: .CNY))
        #expect(reason(parsed) == nil)
        // The issuer's public key, as published (32 raw bytes), is all a terminal needs.
        #expect(reason(parsed, issuers: [try OfflinePublicKey(raw: issuer.publicKey.raw)]) == nil)
    }

    /// Flipping any one bit of the token must never give a token that verifies: each changes a
    /// signed field, a signature, or the framing.
    @Test("every one-bit change of a token is refused")
    func everyBitFlip() throws {
        let token = try OfflineToken.make(certificate: try certificate(), device: device, counter: 1, time: now)
        let bytes = token.bytes
        var accepted: [Int] = []
        for bit in 0..<(bytes.count * 8) {
            var damaged = bytes
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            guard let parsed = try? OfflineToken(parsing: OfflineToken.prefix + Base45.encode(damaged)) else { continue }
            if reason(parsed) == nil { accepted.append(bit) }
        }
        #expect(accepted.isEmpty, "bits \(accepted) flipped and still accepted")
    }

    @Test("a truncated, padded or mistyped token is malformed, with a reason")
    func malformed() throws {
        let text = try OfflineToken.make(certificate: try certificate(), device: device, counter: 1, time: now).text
        for bad in [String(text.dropLast(3)), text + "000", text.lowercased(), "QRPOS:OFF2:" + text.dropFirst(11), "", "280000000000000000"] {
            #expect(throws: OfflineTokenError.self) { try OfflineToken(parsing: bad) }
        }
        do {
            _ = try OfflineToken(parsing: String(text.dropLast(3)))
        } catch {
            #expect(error.reason == .malformed)
        }
    }

    @Test("issuer: unknown key, and a certificate made by another key under this one's id")
    func foreignIssuer() throws {
        let other = OfflineIssuerKey()
        let token = try OfflineToken.make(certificate: try certificate(issuer: other), device: device, counter: 1, time: now)
        #expect(reason(token) == .unknownIssuer)
        #expect(reason(token, issuers: [issuer.publicKey, other.publicKey]) == nil)
        // Another key's signature under this issuer's id: the bytes say "issuer", the signature does not.
        var bytes = token.bytes
        bytes.replaceSubrange(1..<9, with: issuer.publicKey.id)
        let forged = try OfflineToken(parsing: OfflineToken.prefix + Base45.encode(bytes))
        #expect(reason(forged) == .badIssuerSignature)
    }

    @Test("a certificate with another device's signature is refused")
    func liftedCertificate() throws {
        let thief = OfflineDeviceKey()
        #expect(throws: OfflineTokenError.self) {
            try OfflineToken.make(certificate: try certificate(), device: thief, counter: 1, time: now)
        }
        // Built by hand: the victim's certificate, the thief's signature.
        let theirs = try OfflineToken.make(certificate: try certificate(device: thief), device: thief, counter: 1, time: now)
        let victim = try certificate()
        var bytes = victim.bytes
        bytes += theirs.bytes.suffix(4 + 8 + 64)
        let lifted = try OfflineToken(parsing: OfflineToken.prefix + Base45.encode(bytes))
        #expect(reason(lifted) == .badDeviceSignature)
    }

    @Test("validity and freshness, at the edges of the clock skew")
    func time() throws {
        let cert = try certificate(from: now, until: now + day)
        let token = try OfflineToken.make(certificate: cert, device: device, counter: 1, time: now)
        #expect(reason(token, at: now - skew) == nil, "valid from now, seen a skew early: still valid, and fresh")
        #expect(reason(token, at: now - skew - 1) == .notYetValid)
        let late = try OfflineToken.make(certificate: cert, device: device, counter: 2, time: now + day + skew)
        #expect(reason(late, at: now + day + skew) == nil)
        #expect(reason(late, at: now + day + skew + 1) == .expired)
        // A code made five minutes ago is fresh; one made a minute more ago is an old code.
        let old = try OfflineToken.make(certificate: cert, device: device, counter: 3, time: now + 60_000)
        #expect(reason(old, at: now + 60_000 + skew) == nil)
        #expect(reason(old, at: now + 60_000 + skew + 1) == .stale)
        #expect(reason(old, at: now + 60_000 - skew - 1) == .stale, "a code from the terminal's future")
    }

    /// The customer's own phone signs the time, so it can be any number; found when a one-bit
    /// flip of the time's top bit trapped on an overflow instead of being refused.
    @Test("a device-signed time at either end of Int64 is refused as stale, not a crash")
    func extremeTimes() throws {
        let cert = try certificate()
        for time in [Int64.min, Int64.max, Int64.min + 1, -1] {
            #expect(reason(try OfflineToken.make(certificate: cert, device: device, counter: 1, time: time)) == .stale)
        }
    }

    /// The verifier remembers a certificate it checked, by its whole bytes: a forged device
    /// signature under a remembered certificate, or a changed certificate, is still refused.
    @Test("a verifier that remembers certificates still checks every device signature and every changed certificate")
    func verifierMemory() throws {
        let verifier = OfflineVerifier(issuers: [issuer.publicKey])
        let cert = try certificate()
        try verifier.verify(try OfflineToken.make(certificate: cert, device: device, counter: 1, time: now), now: now, clockSkewMillis: skew)
        var bytes = try OfflineToken.make(certificate: cert, device: device, counter: 2, time: now).bytes
        bytes[bytes.count - 1] ^= 1
        let forgedPayment = try OfflineToken(parsing: OfflineToken.prefix + Base45.encode(bytes))
        #expect(throws: OfflineTokenError.self) { try verifier.verify(forgedPayment, now: now, clockSkewMillis: skew) }
        // The same certificate with one field changed: its bytes differ, so it is checked, and fails.
        let thief = OfflineDeviceKey()
        var certBytes = cert.bytes
        let at = certBytes.count - 64 - 32 - 2 - 8 * 3
        certBytes.replaceSubrange(at..<(at + 32), with: thief.publicKey.raw)
        let altered = try OfflineCertificate(bytes: certBytes)
        let token = try OfflineToken.make(certificate: altered, device: thief, counter: 1, time: now)
        do {
            try verifier.verify(token, now: now, clockSkewMillis: skew)
            Issue.record("an altered certificate passed a verifier that had seen the original")
        } catch {
            #expect(error.reason == .badIssuerSignature)
        }
    }

    /// The ledger's verifier (made with the issuer's own key) takes a code whose cryptogram
    /// matches without checking its signature, and checks the signature of any other; a
    /// terminal's, with no secret, checks the signature whatever the code carries.
    @Test("a cryptogram: made only with the certificate's key; the ledger's fast path, never a refusal the terminal could not foresee")
    func cryptogram() throws {
        let cert = try certificate()
        let key = issuer.cryptogramKey(for: cert)
        #expect(key == issuer.cryptogramKey(for: cert), "derived again, the same")
        #expect(key != issuer.cryptogramKey(for: try certificate()), "another certificate, another key")
        #expect(key != OfflineIssuerKey().cryptogramKey(for: cert), "another issuer, another key")
        // The same serial certified to another device key (asked again with another phone) has another key.
        let sameSerial = try OfflineCertificate.issue(serial: cert.serial, walletID: cert.walletID, device: OfflineDeviceKey().publicKey,
                                                      allowance: cert.allowance, validFrom: cert.validFrom, validUntil: cert.validUntil, issuer: issuer)
        #expect(key != issuer.cryptogramKey(for: sameSerial))
        let token = try OfflineToken.make(certificate: cert, device: device, counter: 3, time: now, cryptogramKey: key)
        #expect(token.text.hasPrefix(OfflineToken.prefixWithCryptogram) && OfflineToken.looksLikeToken(token.text))
        #expect(token.text.utf8.count < 410, "16 bytes more: 401 characters, still a version-12 QR at level M as wallet token --png draws it")
        let parsed = try OfflineToken(parsing: token.text)
        #expect(parsed == token && parsed.cryptogram?.count == OfflineToken.cryptogramLength)
        #expect(parsed.hasValidCryptogram(key: key))
        #expect(!parsed.hasValidCryptogram(key: issuer.cryptogramKey(for: try certificate())))
        #expect(try OfflineToken(parsing: OfflineToken.prefix + Base45.encode(token.bytes.dropLast(16))).cryptogram == nil)
        #expect(throws: OfflineTokenError.self, "an OFF2 code without its cryptogram") {
            try OfflineToken(parsing: OfflineToken.prefixWithCryptogram + Base45.encode(token.bytes.dropLast(16)))
        }

        func changed(_ token: OfflineToken, at offsetFromEnd: Int...) throws -> OfflineToken {
            var bytes = token.bytes
            for offset in offsetFromEnd { bytes[bytes.count - offset] ^= 0x40 }
            return try OfflineToken(parsing: (token.cryptogram == nil ? OfflineToken.prefix : OfflineToken.prefixWithCryptogram) + Base45.encode(bytes))
        }
        func reason(_ token: OfflineToken, _ verifier: OfflineVerifier) -> OfflineTokenError.Reason? {
            do { try verifier.verify(token, now: now, clockSkewMillis: skew); return nil } catch { return error.reason }
        }
        let ledger = OfflineVerifier(issuers: [issuer.publicKey], issuer: issuer)
        let terminal = OfflineVerifier(issuers: [issuer.publicKey])
        let badCryptogram = try changed(token, at: 1)
        let badSignature = try changed(token, at: OfflineToken.cryptogramLength + 1)
        let badBoth = try changed(token, at: 1, OfflineToken.cryptogramLength + 1)
        #expect(reason(token, ledger) == nil && reason(token, terminal) == nil)
        #expect(reason(badCryptogram, terminal) == nil, "a terminal cannot check the cryptogram, and takes the code")
        #expect(reason(badCryptogram, ledger) == nil, "so the ledger, finding it wrong, checks the signature as the terminal did")
        #expect(reason(badSignature, terminal) == .badDeviceSignature, "a terminal takes only the signature's word")
        #expect(reason(badSignature, ledger) == nil, "the ledger takes the cryptogram's")
        #expect(reason(badBoth, ledger) == .badDeviceSignature && reason(badBoth, terminal) == .badDeviceSignature)
        // A code without a cryptogram, or one whose certificate another issuer signed: the
        // ledger has no key for it and checks the signature.
        let plain = try OfflineToken.make(certificate: cert, device: device, counter: 4, time: now)
        #expect(reason(plain, ledger) == nil)
        #expect(reason(try changed(plain, at: 1), ledger) == .badDeviceSignature)
        let other = OfflineIssuerKey()
        let foreign = try certificate(issuer: other)
        let both = OfflineVerifier(issuers: [issuer.publicKey, other.publicKey], issuer: issuer)
        let theirs = try OfflineToken.make(certificate: foreign, device: device, counter: 1, time: now, cryptogramKey: other.cryptogramKey(for: foreign))
        #expect(reason(theirs, both) == nil)
        #expect(reason(try changed(theirs, at: OfflineToken.cryptogramLength + 1), both) == .badDeviceSignature)
        // A certificate the ledger has seen before: still the same rule for every code.
        let again = try OfflineToken.make(certificate: cert, device: device, counter: 5, time: now, cryptogramKey: key)
        #expect(reason(try changed(again, at: OfflineToken.cryptogramLength + 2), ledger) == nil)
        #expect(reason(try changed(again, at: 2, OfflineToken.cryptogramLength + 2), ledger) == .badDeviceSignature)
    }

    /// The key reaches the phone sealed to a one-time key of its own: only that phone opens it,
    /// only for that certificate, and a changed byte is found.
    @Test("the cryptogram key travels sealed: only the phone that asked opens it, for that certificate, unchanged")
    func sealedCryptogramKey() throws {
        let cert = try certificate()
        let phone = CryptogramKeyReceiver(), eavesdropper = CryptogramKeyReceiver()
        let sealed = try issuer.sealedCryptogramKey(for: cert, to: phone.agreementKey)
        #expect(sealed.count == 80)
        #expect(try phone.open(sealed, for: cert) == issuer.cryptogramKey(for: cert))
        #expect(!sealed.contains(issuer.cryptogramKey(for: cert)), "never in the clear")
        #expect(throws: OfflineTokenError.self) { try eavesdropper.open(sealed, for: cert) }
        #expect(throws: OfflineTokenError.self) { try phone.open(sealed, for: try certificate()) }
        for index in [0, 40, 79] {
            var damaged = sealed
            damaged[index] ^= 1
            #expect(throws: OfflineTokenError.self) { try phone.open(damaged, for: cert) }
        }
        #expect(throws: OfflineTokenError.self) { try phone.open(Array(sealed.dropLast()), for: cert) }
        #expect(throws: OfflineTokenError.self) { try issuer.sealedCryptogramKey(for: cert, to: [1, 2, 3]) }
    }

    @Test("issuing refuses what no certificate may say")
    func issueChecks() throws {
        #expect(throws: OfflineTokenError.self) { try certificate(allowance: 0) }
        #expect(throws: OfflineTokenError.self) { try certificate(from: now, until: now) }
        #expect(throws: OfflineTokenError.self) {
            try OfflineCertificate.issue(serial: "not-a-uuid", walletID: "w", device: device.publicKey,
                                         allowance: Money(minorUnits: 1, currency: .CNY), validFrom: 0, validUntil: 1, issuer: issuer)
        }
        // An upper-case serial would be reserved as typed and read back from the token in lower case.
        #expect(throws: OfflineTokenError.self) {
            try OfflineCertificate.issue(serial: UUIDv7.make().uppercased(), walletID: "w", device: device.publicKey,
                                         allowance: Money(minorUnits: 1, currency: .CNY), validFrom: 0, validUntil: 1, issuer: issuer)
        }
        #expect(throws: OfflineTokenError.self) {
            try OfflineCertificate.issue(serial: UUIDv7.make(), walletID: String(repeating: "w", count: 65), device: device.publicKey,
                                         allowance: Money(minorUnits: 1, currency: .CNY), validFrom: 0, validUntil: 1, issuer: issuer)
        }
    }
}
