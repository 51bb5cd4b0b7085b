import Payments

/// The public vectors of mission-anchors.md §3, by their numbers there.
enum Vectors {
    /// The EMVCo MPM specification's sample: two merchant templates, tip prompt, a Chinese
    /// language template placed before the amount, and an unreserved template 91.
    static let emvcoSample = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"
    /// BCB Pix manual §2.6.3, static.
    static let pixStatic = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
    /// BCB Pix manual §2.7.2, dynamic.
    static let pixDynamic = "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd4415204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"

    static let all = [emvcoSample, pixStatic, pixDynamic]
}

/// `body` (which should start with "000201") closed with "6304" and its correct CRC, so that a
/// test reaches the check it means to test instead of failing on the CRC.
func sealed(_ body: String) -> String {
    let withTag = body + "6304"
    return withTag + CRC16.hex(CRC16.ccittFalse(withTag.utf8))
}

/// A valid static payload built from `fields` (everything but 00 and 63), in the order given.
func payload(_ fields: [TLV]) -> String { sealed("000201" + EMVTLV.encode(fields)) }

/// The fields of a minimal valid payload, to be varied one at a time.
let baseFields: [TLV] = [
    TLV(id: "26", value: "0014br.gov.bcb.pix0105abcde"),
    TLV(id: "52", value: "5812"),
    TLV(id: "53", value: "156"),
    TLV(id: "58", value: "CN"),
    TLV(id: "59", value: "NOODLE BAR"),
    TLV(id: "60", value: "SHANGHAI"),
]

/// `baseFields` with `id` set to `value` (added before 63 if new), or removed when `value` is nil.
func base(_ changes: (String, String?)...) -> [TLV] {
    var fields = baseFields
    for (id, value) in changes {
        if let index = fields.firstIndex(where: { $0.id == id }) {
            if let value { fields[index].value = value } else { fields.remove(at: index) }
        } else if let value {
            fields.append(TLV(id: id, value: value))
        }
    }
    return fields
}

/// The payload's Unicode scalars, since EMV QR offsets and lengths count scalars.
func scalars(_ s: String) -> [Unicode.Scalar] { Array(s.unicodeScalars) }

func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}

