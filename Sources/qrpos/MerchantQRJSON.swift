import Payments

/// The fields of an EMVCo payload as `qrpos merchant-qr --parse` prints them: snake_case keys,
/// amounts as decimal text, sub-fields keyed by their two-digit ids. Stable for rigs.
func merchantQRJSON(_ qr: MerchantQR, payload: String) -> [String: Any] {
    func fields(_ tlvs: [TLV]) -> [String: String] {
        Dictionary(tlvs.map { ($0.id, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
    func template(_ t: EMVTemplate) -> [String: Any] {
        ["id": t.id, "gui": t.gui, "fields": fields(t.fields)]
    }
    var object: [String: Any] = [
        "payload_format": "01",
        "merchant_accounts": qr.merchantAccounts.map { account -> [String: Any] in
            switch account {
            case .primitive(let tlv): ["id": tlv.id, "value": tlv.value]
            case .template(let t): template(t)
            }
        },
        "category_code": qr.categoryCode,
        "currency": qr.currency.code,
        "currency_numeric": qr.currency.numeric,
        "country": qr.countryCode,
        "merchant_name": qr.merchantName,
        "merchant_city": qr.merchantCity,
        "crc": String(payload.suffix(4)),
    ]
    if let initiation = qr.initiation { object["initiation"] = initiation == .dynamicCode ? "dynamic" : "static" }
    if let amount = qr.amount { object["amount"] = amount.decimalString }
    if let postal = qr.postalCode { object["postal_code"] = postal }
    switch qr.tip {
    case .none: break
    case .promptConsumer: object["tip"] = ["indicator": "prompt"]
    case .fixedFee(let fee): object["tip"] = ["indicator": "fixed", "fee": fee.decimalString]
    case .percentageFee(let percent): object["tip"] = ["indicator": "percentage", "percentage": percent]
    }
    if let data = qr.additionalData {
        var extra: [String: Any] = [:]
        let named: [(String, String?)] = [
            ("bill_number", data.billNumber), ("mobile_number", data.mobileNumber), ("store_label", data.storeLabel),
            ("loyalty_number", data.loyaltyNumber), ("reference_label", data.referenceLabel),
            ("customer_label", data.customerLabel), ("terminal_label", data.terminalLabel), ("purpose", data.purpose),
            ("consumer_data_request", data.consumerDataRequest),
        ]
        for case let (key, value?) in named { extra[key] = value }
        if !data.other.isEmpty { extra["other"] = fields(data.other) }
        object["additional_data"] = extra
    }
    if let language = qr.language {
        var lang: [String: Any] = ["preference": language.languagePreference, "merchant_name": language.merchantName]
        if let city = language.merchantCity { lang["merchant_city"] = city }
        if !language.other.isEmpty { lang["other"] = fields(language.other) }
        object["language"] = lang
    }
    if !qr.unreserved.isEmpty {
        object["unreserved"] = qr.unreserved.map { item -> [String: Any] in
            switch item {
            case .raw(let tlv): ["id": tlv.id, "value": tlv.value]
            case .template(let t): template(t)
            }
        }
    }
    if let order = try? OrderQR(qr) {
        object["qrpos_order"] = ["merchant_id": order.merchantID, "order_id": order.orderID, "expires_at": order.expiresAt]
    }
    return object
}
